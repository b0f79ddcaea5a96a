"""Superset's cache, results store and Celery broker: Valkey (docs/decisions/0014-valkey.md), which the runtime
runs for the presentation layer as a `HostedService`, TLS only. Pure: no resources.

Standalone, one pod (a Deployment, recreated on change since its volume is ReadWriteOnce); with more replicas, a
StatefulSet whose pod 0 is the primary behind the `redis` Service and whose other pods replicate it over TLS (no
automatic failover). The `default` user's password is the generated one the runtime writes into AUTH_SECRET.
"""

from __future__ import annotations

from typing import Any

from components.kit.hardening import MEDIUM, container_security, pod_security
from components.kit.images import pinned_tag
from components.kit.release import Hardening, HostedService, ProductRelease, ServerCertificate
from infra.model.naming import service_host

LAYER = "presentation"
NAME = "redis"
PORT = 6379
AUTH_SECRET = "redis-auth"
PASSWORD_KEY = "redis-password"
# The Valkey project's image, newer than the chart's default (9.1.1) by the 9.1.2 to 9.1.4 security fixes; pinned
# by tag, as the vendors' images are.
VALKEY_IMAGE = {"registry": "docker.io", "repository": "valkey/valkey", "tag": "9.1.4"}
# The primary's Service, and with replicas each pod by its headless name (replicas follow redis-0.redis-headless
# over TLS).
CERTIFICATE = ServerCertificate(LAYER, "redis-tls", (NAME, service_host(NAME, LAYER),
                                                     f"*.{service_host(f'{NAME}-headless', LAYER)}"))
HOST = service_host(NAME, LAYER)


def release(replicas: int, storage_class: str | None) -> ProductRelease:
    """The Valkey chart's release: `port 0` and `tls-port 6379` (no plaintext listener), auth from AUTH_SECRET."""
    values: dict[str, Any] = {
        "fullnameOverride": NAME,
        "image": {**VALKEY_IMAGE, "tag": pinned_tag(f"{VALKEY_IMAGE['registry']}/{VALKEY_IMAGE['repository']}",
                                                     VALKEY_IMAGE["tag"])},
        "serviceAccount": {"create": True, "automount": False},
        "auth": {
            "enabled": True,
            "usersExistingSecret": AUTH_SECRET,
            "aclUsers": {"default": {"permissions": "~* &* +@all", "passwordKey": PASSWORD_KEY}},
        },
        "tls": {
            "enabled": True,
            "existingSecret": CERTIFICATE.secret,
            "serverPublicKey": "tls.crt",
            "serverKey": "tls.key",
            "caPublicKey": "ca.crt",
            "requireClientCertificate": False,
        },
        "startupProbe": {"enabled": True},
        "livenessProbe": {"enabled": True},
        "readinessProbe": {"enabled": True},
        "metrics": {"enabled": False},
    }
    if replicas > 1:
        persistence: dict[str, Any] = {"size": "2Gi"}
        if storage_class:
            persistence["storageClass"] = storage_class
        values["replica"] = {
            "enabled": True,
            "replicas": replicas - 1,
            "replicationUser": "default",
            "persistence": persistence,
            "service": {"enabled": False},
        }
    else:
        storage: dict[str, Any] = {"enabled": True, "requestedSize": "2Gi"}
        if storage_class:
            storage["className"] = storage_class
        values["replica"] = {"enabled": False}
        values["dataStorage"] = storage
        values["deploymentStrategy"] = "Recreate"
    return ProductRelease(
        name=NAME,
        chart="valkey",
        layer=LAYER,
        values=values,
        hardening=Hardening(
            pod=pod_security(run_as_user=1000, fs_group=1000),
            container=container_security(run_as_user=1000),
            resources=MEDIUM,
        ),
    )


def hosted_service(replicas: int, storage_class: str | None) -> HostedService:
    """What the presentation layer has the runtime run for it."""
    return HostedService(name=NAME, release=release(replicas, storage_class), certificate=CERTIFICATE,
                         password_secret=AUTH_SECRET, password_key=PASSWORD_KEY, endpoint=f"{HOST}:{PORT}")
