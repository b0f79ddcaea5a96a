"""The ingestion layer's section of the stack config (`dataplatform:ingestion`): Airbyte, and where the catalog's
sources live.

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, model_validator

from infra.model.errors import InputError, Problem, mask_url_passwords, url_password
from infra.model.sections import (
    AWS_REGION,
    HOST,
    HTTPS_URL,
    S3_BUCKET,
    Cidrs,
    Section,
)


class SourceEndpointSettings(Section):
    """Where one catalog source lives; which keys apply depends on its `kind` in the catalog (`ENDPOINT_KEYS`)."""

    host: Annotated[str, Field(min_length=1, max_length=253, pattern=HOST)] | None = Field(
        default=None, description="Database host (postgres, mysql, mongodb)."
    )
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        default=None, description="Database port; None: the engine's default (5432, 3306, 27017)."
    )
    database: Annotated[str, Field(min_length=1, pattern=r"^[^\s/\\.\"$]{1,63}$")] | None = Field(
        default=None, description="Database to read (postgres, mysql, mongodb)."
    )
    schema_name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")] | None = Field(
        default=None, alias="schema", description="PostgreSQL schema; None: `public`."
    )
    username: Annotated[str, Field(min_length=1, pattern=r"^[^\s:]{1,128}$")] | None = Field(
        default=None, description="Login of the database, or the access key id of the CSV files' bucket."
    )
    url: Annotated[str, Field(min_length=1, pattern=HTTPS_URL)] | None = Field(
        default=None, description="https URL of the REST API, or of the CSV files' S3 endpoint (None: AWS S3)."
    )
    bucket: Annotated[str, Field(min_length=1, pattern=S3_BUCKET)] | None = Field(
        default=None, description="Bucket the CSV files are dropped in (csv_files)."
    )
    region: Annotated[str, Field(min_length=1, pattern=AWS_REGION)] | None = Field(
        default=None, description="Region of the CSV files' bucket (csv_files)."
    )
    cidrs: Cidrs | None = Field(
        default=None,
        description="Where the source's address lies, as CIDRs: Airbyte's job pods may open its port there and "
        "nowhere else. Required (validation names it); `[0.0.0.0/0]` allows any address (an internet API).",
    )
    password: Annotated[SecretStr, Field(min_length=1)] | None = Field(
        default=None,
        description="The source's one secret (password or secret access key). Set it as a secret: "
        "`pulumi config set --secret --path 'dataplatform:ingestion.sources.<name>.password'`.",
    )
    configuration: dict[str, Any] | None = Field(
        default=None,
        description="The configuration of a source named by connector (catalog kind `rest_api`), as its connector's "
        "spec defines it, without the fields the spec marks secret (they go under `secrets`).",
    )
    secrets: dict[str, Annotated[SecretStr, Field(min_length=1)]] | None = Field(
        default=None,
        description="The secret fields of a source named by connector, by dotted path in its configuration "
        "(`credentials.api_key`). Set each as a secret: "
        "`pulumi config set --secret --path 'dataplatform:ingestion.sources.<name>.secrets.<field>'`.",
    )

    @model_validator(mode="after")
    def _no_credentials_in_url(self) -> SourceEndpointSettings:
        # A password inside the URL would sit in plain text in the stack file, the state and the connector's
        # configuration; the source's secret goes under `password` or `secrets`, set encrypted.
        if self.url is not None and url_password(self.url):
            raise InputError(Problem(
                "url", "a password inside the URL (`https://user:password@host`) is a secret in plain text: remove "
                "it from the URL and set it encrypted under `password` (csv_files) or `secrets` (rest_api) with "
                "`pulumi config set --secret --path`", mask_url_passwords(self.url)))
        return self


# Per catalog source kind: the keys of `ingestion.sources.<name>` it needs, and those it may have besides.
ENDPOINT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "postgres": (("host", "database", "username"), ("port", "schema", "password", "cidrs")),
    "mysql": (("host", "database", "username"), ("port", "password", "cidrs")),
    "mongodb": (("host", "database", "username"), ("port", "password", "cidrs")),
    "rest_api": (("url",), ("configuration", "secrets", "cidrs")),
    "csv_files": (("bucket", "region", "username"), ("url", "password", "cidrs")),
}


class IngestionSettings(Section):
    workspace: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] = Field(
        default="platform", description="Airbyte workspace that holds the catalog's sources and connections."
    )
    failure_webhook: Annotated[str, Field(pattern=HTTPS_URL)] | None = Field(
        default=None, description="https webhook (e.g. Slack) Airbyte notifies on failed syncs; None: no webhook."
    )
    job_size: Literal["small", "medium", "large"] = Field(description="Resources of each sync job's pods.")
    connector_registry: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="Airbyte's connector registry file (JSON, as Airbyte publishes it: each connector's definition id "
        "and spec), relative to the project or absolute. Optional: the Airbyte provider checks every source against "
        "the spec the server reports (at preview when Airbyte is reachable, always before it writes); when set, the "
        "plan also checks them offline, before anything is deployed.",
    )
    sources: dict[str, SourceEndpointSettings] = Field(
        default_factory=dict,
        description="Where each catalog source lives in this stack, by source name: one entry per source of the "
        "catalog, with the keys its kind needs (infra/model/inputs.py checks them against the catalog).",
    )
