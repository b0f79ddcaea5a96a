"""What every section of the stack config shares: the base model (camelCase keys, nothing unknown, frozen),
value patterns, the platform's minimums and small helpers. Product sections live in their product folders
(`components/<product>/config.py`); infra/model/config.py composes them into the stack config."""

from __future__ import annotations

import importlib.metadata
import ipaddress
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIN_AUDIT_DAYS_PROD = 90
MIN_ACCESS_LOG_DAYS = 90
MIN_BACKUP_DAYS_PROD = 7
# Bounds (seconds) of the query-duration histogram the log shipper derives from Dremio's query log
# (components/logs/shipping.py); the slow-query alert compares against one of them, so its threshold must be one.
QUERY_SECONDS_BUCKETS: tuple[int, ...] = (1, 5, 10, 30, 60, 120, 300, 600)
HOST = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
HOST_PORT = HOST.removesuffix("$") + r":[0-9]{1,5}$"
HTTPS_URL = r"^https://[^\s/?#]+[^\s]*$"
AWS_REGION = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
KUBERNETES_NAME = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
ABSOLUTE_PATH = r"^/\S*$"
NO_SPACE = r"^\S+$"
EMAIL = r"^[^\s@,<>]+@[^\s@,<>]+\.[^\s@,<>]+$"
KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$"


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError("must be a CIDR such as 10.0.0.0/16 or 192.0.2.10/32, with no host bits set past the "
                         "prefix (0.0.0.0/0 allows every address)") from None
    return str(network)


# An address range in CIDR notation (IPv4 or IPv6), as a NetworkPolicy's ipBlock takes it.
Cidr = Annotated[str, AfterValidator(_cidr)]
Cidrs = Annotated[tuple[Cidr, ...], Field(min_length=1)]


class Section(BaseModel):
    """Stack YAML keys are camelCase (Pulumi's convention); Python attributes are snake_case."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, validate_default=True
    )


def read_pem(path_text: str) -> str:
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise ValueError(f"neither PEM text nor a readable file: {path} ({reason})") from None
    return certificate_text(text, f"file {path}")


def certificate_text(text: str, where: str) -> str:
    if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
        raise ValueError(f"{where} holds no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END "
                         "CERTIFICATE-----)")
    return text


def repeated_names(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    seen: set[str] = set()
    return sorted({name for name in names if name in seen or seen.add(name)})


def elasticsearch_client_version() -> str | None:
    try:
        return importlib.metadata.version("elasticsearch")
    except importlib.metadata.PackageNotFoundError:
        return None


IMAGE_LOCK = Path(__file__).resolve().parents[2] / "images" / "digests.lock.json"


@dataclass(frozen=True)
class StackIdentity:
    """What every layer shares about its stack: the physical-name prefix, the stack, its stage and protection."""

    name_prefix: str
    stack: str
    stage: Literal["dev", "prod"]
    protect: bool


@cache
def platform_images(path: Path = IMAGE_LOCK) -> tuple[str, ...]:
    """Names of the platform's own images (images/digests.lock.json, written by CI)."""
    return tuple(sorted(json.loads(path.read_text())))
