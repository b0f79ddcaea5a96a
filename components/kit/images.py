"""Every image the program deploys, pinned by digest from the image locks (infra/model/images.py, docs/locks.md).

The platform's own images come from `images/digests.lock.json` (written by .github/workflows/images.yml); a vendor
image is named in code or config by its tag and `pinned` adds the digest `images/vendor.lock.json` records for it
(written by .github/workflows/image-lock.yml). Until CI has recorded a digest the reference carries the tag only:
the pack's `kubernetes-image-require-digest` reports it (advisory), the offline plan lists it and the prod deploy
refuses it.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.metadata.config import MetadataSettings
from infra.model.images import parse_reference, vendor_digests
from infra.model.naming import RDS_CA_BUNDLE
from infra.model.sections import IMAGE_LOCK

LOCK_FILE = IMAGE_LOCK
# The TLS fronts in front of plain or unauthenticated servers (Airbyte's API, Prometheus's readers) run nginx as an
# unprivileged user (uid 101, listening above 1024).
NGINX_UNPRIVILEGED = "nginxinc/nginx-unprivileged:1.27-alpine"
# Where images/migrations/Dockerfile puts the RDS CA bundle. Every in-cluster client of an RDS metadata server
# (the migrations Job, and the `rds-ca` init containers of Dremio, Airbyte and Superset) takes it from that image
# at this path; `metadata.caBundleFile` is the bundle's path on the deployer, for the PostgreSQL provider only.


def image_references(path: Path = LOCK_FILE) -> dict[str, str]:
    """Image name -> `repository:tag@sha256:...`, or `repository:tag` while no digest is recorded."""
    lock = json.loads(path.read_text())
    references = {}
    for name, entry in sorted(lock.items()):
        reference = f"{entry['repository']}:{entry['tag']}"
        if entry.get("digest"):
            reference += f"@{entry['digest']}"
        references[name] = reference
    return references


def platform_image(name: str, references: dict[str, str] | None = None) -> str:
    """A platform image by name: pinned from the lock file, else `ghcr.io/dataplatform/<name>:0.1.0` (not built yet)."""
    return (references if references is not None else image_references()).get(name) or (
        f"ghcr.io/dataplatform/{name}:0.1.0")


def vendor_digest(reference: str) -> str:
    """The digest images/vendor.lock.json records for a vendor image's `repository:tag`, or "" (unresolved)."""
    return vendor_digests().get(parse_reference(reference).key, "")


def pinned(reference: str) -> str:
    """A vendor image `repository:tag` as deployed: `repository:tag@sha256:...` once its digest is recorded."""
    digest = vendor_digest(reference)
    return f"{reference}@{digest}" if digest else reference


def pinned_tag(repository: str, tag: str) -> str:
    """The `tag` of a chart's image values object, as deployed: `tag@sha256:...` once the digest is recorded (the
    charts that take such objects join repository and tag with `:`)."""
    digest = vendor_digest(f"{repository}:{tag}")
    return f"{tag}@{digest}" if digest else tag


def rds_ca_source(metadata: MetadataSettings) -> tuple[str | None, str | None]:
    """(path, image) an in-cluster client copies the RDS CA bundle from; (None, None) unless the metadata server is
    RDS. The image is the metadata layer's migrations image, which ships the bundle at `RDS_CA_BUNDLE`."""
    if metadata.backend != "rds":
        return None, None
    return RDS_CA_BUNDLE, platform_image(metadata.migrations_image)
