"""Superset's cache, results store and Celery broker: Valkey (docs/decisions/0014-valkey.md), which the runtime
runs for the presentation layer as a `HostedService`, TLS only. Pure: no resources.

Standalone, one pod (a Deployment, recreated on change since its volume is ReadWriteOnce); with more replicas, a
StatefulSet whose pod 0 is the primary behind the `redis` Service and whose other pods replicate it over TLS (no
automatic failover).

Users (the chart writes one ACL line per `auth.aclUsers` entry, `user <name> on #<sha256> <permissions>`, with
the passwords the runtime generates into AUTH_SECRET):
- `default` is switched off with no command, key or channel: a client that does not name a user gets nothing;
- `superset` is Superset's (cache, results, Celery broker): the data-type, transaction, scripting, pub/sub and
  connection categories, then without `@admin` and `@dangerous` (no CONFIG, FLUSHALL, FLUSHDB, KEYS, SHUTDOWN,
  DEBUG, ACL, INFO);
- `probe` only runs PING: the startup, liveness and readiness probes log in as it (the chart's own probes send an
  unauthenticated PING, which a server with users answers with NOAUTH);
- `replication` (only with replicas) runs only PSYNC, REPLCONF and PING: replicas follow the primary as it.
tests/components/test_valkey_acl.py runs these lines and the probe command in a real Redis 7 server.
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

SUPERSET_USER = "superset"
SUPERSET_PERMISSIONS = ("resetkeys ~* resetchannels &* -@all +@connection +@keyspace +@read +@write +@string +@list "
                        "+@hash +@set +@sortedset +@stream +@pubsub +@transaction +@scripting -@admin -@dangerous")
DEFAULT_PASSWORD_KEY = "default-password"
DEFAULT_PERMISSIONS = "off resetkeys resetchannels -@all"
PROBE_USER = "probe"
PROBE_PASSWORD_KEY = "probe-password"
PROBE_PERMISSIONS = "resetkeys resetchannels -@all +ping"
REPLICATION_USER = "replication"
REPLICATION_PASSWORD_KEY = "replication-password"
# The chart's note on `replica.replicationUser` (valkey/values.yaml@valkey-0.11.0): "+psync +replconf +ping".
REPLICATION_PERMISSIONS = "resetkeys resetchannels -@all +psync +replconf +ping"
# The probe reads its password from AUTH_SECRET, mounted into the server's container (`extraValkeySecrets`).
AUTH_MOUNT = "/run/valkey-auth"
TLS_CA = "/tls/ca.crt"
PROBE_SCRIPT = (f'P="$(cat {AUTH_MOUNT}/{PROBE_PASSWORD_KEY})" && VALKEYCLI_AUTH="$P" REDISCLI_AUTH="$P" '
                f"valkey-cli --tls --cacert {TLS_CA} --user {PROBE_USER} ping | grep -qx PONG")
PROBE_TIMING = {"startupProbe": {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 30},
                "livenessProbe": {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
                "readinessProbe": {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}}


def acl_users(replicas: int) -> dict[str, dict[str, str]]:
    """The chart's `auth.aclUsers`: user -> permissions and the AUTH_SECRET key of its password."""
    users = {
        "default": {"permissions": DEFAULT_PERMISSIONS, "passwordKey": DEFAULT_PASSWORD_KEY},
        SUPERSET_USER: {"permissions": SUPERSET_PERMISSIONS, "passwordKey": PASSWORD_KEY},
        PROBE_USER: {"permissions": PROBE_PERMISSIONS, "passwordKey": PROBE_PASSWORD_KEY},
    }
    if replicas > 1:
        users[REPLICATION_USER] = {"permissions": REPLICATION_PERMISSIONS, "passwordKey": REPLICATION_PASSWORD_KEY}
    return users


def probes() -> dict[str, Any]:
    """The chart's probes, replaced (`customProbe`) by a PING as the `probe` user."""
    return {name: {"enabled": True, "customProbe": {"exec": {"command": ["sh", "-c", PROBE_SCRIPT]}, **timing}}
            for name, timing in PROBE_TIMING.items()}


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
            "aclUsers": acl_users(replicas),
        },
        "extraValkeySecrets": [{"name": AUTH_SECRET, "mountPath": AUTH_MOUNT}],
        "tls": {
            "enabled": True,
            "existingSecret": CERTIFICATE.secret,
            "serverPublicKey": "tls.crt",
            "serverKey": "tls.key",
            "caPublicKey": "ca.crt",
            "requireClientCertificate": False,
        },
        **probes(),
        "metrics": {"enabled": False},
    }
    if replicas > 1:
        persistence: dict[str, Any] = {"size": "2Gi"}
        if storage_class:
            persistence["storageClass"] = storage_class
        values["replica"] = {
            "enabled": True,
            "replicas": replicas - 1,
            "replicationUser": REPLICATION_USER,
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
                         password_secret=AUTH_SECRET, password_key=PASSWORD_KEY, endpoint=f"{HOST}:{PORT}",
                         other_password_keys=tuple(user["passwordKey"] for name, user in acl_users(replicas).items()
                                                   if user["passwordKey"] != PASSWORD_KEY))
