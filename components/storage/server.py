"""The dev object store's server build: which image runs MinIO's server, and how the platform addresses it.

MinIO's community repository is archived and its images are gone from Docker Hub (quay.io's tags are frozen), so
the runtime's `minio` release runs SILO (github.com/pgsty/silo), a maintained fork of the MinIO server that keeps
the S3 and admin APIs, the `MINIO_*` settings, the `/minio/*` routes and metrics, and the on-disk format
(docs/decisions/0022-dev-object-store-build.md). The chart stays MinIO's `minio` 5.4.0: only the images change.

Pure data: components/runtime/values.py sets the release's images from it, components/monitoring scrapes the
Service it names.
"""

from __future__ import annotations

from components.kit.images import pinned_tag

# docker.io/pgsty/silo, the classic (shell-bearing) variant: the chart starts the server through
# `/bin/sh -ce "/usr/bin/docker-entrypoint.sh minio server ..."`, and that entrypoint runs `silo` for a first
# argument `minio` (silo.pgsty.com/compatibility/server/#container). The `-distroless` tags have no shell.
# RELEASE.2026-09-16T00-00-00Z: published 2026-09-16 (silo.pgsty.com/blog/release/silo-20260916/).
IMAGE_REPOSITORY = "docker.io/pgsty/silo"
IMAGE_TAG = "RELEASE.2026-09-16T00-00-00Z"
# The release before it, the one SILO's own chart 7.0.2 defaults to: the tag to go back to if the newer one is
# withdrawn (decision 0022).
FALLBACK_TAG = "RELEASE.2026-09-03T13-18-01Z"

# Labels of the chart's API Service only (helm/minio/templates/service.yaml at minio/minio 43a740296855): its
# console Service carries the same `app` and `release` but not `monitoring`, which is what the chart's own
# ServiceMonitor selects on (templates/servicemonitor.yaml).
API_SERVICE_LABELS = {"app": "minio", "release": "minio", "monitoring": "true"}


def image() -> dict[str, str]:
    """The chart's image values object for the server, tagged with its digest once the image lock records it.
    The image also carries the MinIO client (`mc`), so the chart's client jobs use it too."""
    return {"repository": IMAGE_REPOSITORY, "tag": pinned_tag(IMAGE_REPOSITORY, IMAGE_TAG)}
