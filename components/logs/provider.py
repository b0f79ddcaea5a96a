"""Elasticsearch objects as Pulumi resources, on the official `elasticsearch` client: index templates, ILM
policies, roles, native users, snapshot repositories and snapshot lifecycle (SLM) policies.

The client's major version is pinned to the cluster's (decision 0009): a 9.x client sends
`compatible-with=9` media types that an 8.x server refuses. The connection is https only, verified against the
CA given as PEM; the client's own retries are off so that the base's bounded backoff is the only one.

    connection = {"url": "https://logs-es-http.dp-logs.svc:9200", "username": ..., "password": ..., "ca_pem": ...}
    IlmPolicy("logs-ilm-audit", connection, "platform-audit", {"phases": {...}})

Every call is an endpoint of the Elasticsearch 9.x specification (elastic/elasticsearch-specification), with the
request body its request type defines; the tests hold each call against the compiled 9.5 specification.

Refresh compares like with like: `fetch` keeps, of the server's answer, exactly the fields the object's create
request takes (`WRITABLE`, the properties of the request body types `indices.put_index_template.Request`,
`security.put_role.Request`, `security.put_user.Request`, `slm.put_lifecycle.Request`, the S3 repository's
`snapshot._types.S3Repository`; `ilm.put_lifecycle.Request` has only `policy`), so what the server adds on its own
(index templates' `created_date_millis`/`modified_date_millis` since 9.2, a policy's `version`, `modified_date` and
`in_use_by`, a role's `transient_metadata`, a user's `username` and `profile_uid`, a repository's `uuid`, an SLM
policy's `version`, dates, `next_execution`, `last_success`/`last_failure` and `stats`) never reads as drift,
while a change to anything the platform writes does. A user's password is never returned by
the server: it is compared by its hash in state only (components/kit/rest.py), so a password changed by hand on the
cluster is not seen by a refresh; the next apply of a new password rewrites it.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import pulumi

from components.kit.rest import NotFound, ProviderResource, RestProvider

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

TRANSIENT_STATUSES = {409, 429, 500, 502, 503, 504}


def _client_modules() -> tuple[Any, Any]:
    """The client library, imported when a provider runs: declaring resources never needs it."""
    import elastic_transport
    import elasticsearch

    return elasticsearch, elastic_transport


DEFAULT_TIMEOUT_SECONDS = 30.0
# The body properties each create request takes (the 9.x specification's request types); `fetch` keeps these.
WRITABLE = {
    "index_template": frozenset({"index_patterns", "composed_of", "template", "data_stream", "priority", "version",
                                 "_meta", "allow_auto_create", "ignore_missing_component_templates", "deprecated"}),
    # indices.put_index_template.IndexTemplateMapping
    "index_template.template": frozenset({"aliases", "mappings", "settings", "lifecycle", "data_stream_options"}),
    # `transient_metadata` is in the request type but the server owns it (it says whether the role is enabled).
    "role": frozenset({"applications", "cluster", "global", "indices", "remote_indices", "remote_cluster",
                       "metadata", "run_as", "description"}),
    # `username` repeats the path; `password` and `password_hash` are never returned.
    "user": frozenset({"email", "full_name", "metadata", "roles", "enabled"}),
    # snapshot._types.S3Repository without RepositoryBase's `uuid`, which the server assigns.
    "repository": frozenset({"type", "settings"}),
    # slm.put_lifecycle.Request's body; the answer nests it under `policy` (slm._types.Policy, the same fields).
    "slm_policy": frozenset({"name", "schedule", "repository", "config", "retention"}),
}


def writable(kind: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The part of a server's answer that the object's create request sets."""
    return {key: value for key, value in answer.items() if key in WRITABLE[kind]}


def client(connection: dict[str, Any]) -> Elasticsearch:
    url = connection["url"]
    if not url.startswith("https://"):
        raise ValueError(f"Elasticsearch connection {url!r} is not https; TLS is required")
    context = ssl.create_default_context(cadata=connection["ca_pem"])
    elasticsearch, _ = _client_modules()
    return elasticsearch.Elasticsearch(
        url,
        basic_auth=(connection["username"], connection["password"]),
        ssl_context=context,
        request_timeout=float(connection.get("timeout") or DEFAULT_TIMEOUT_SECONDS),
        max_retries=0,
        retry_on_timeout=False,
    )


class _ElasticsearchProvider(RestProvider):
    def connect(self, props: dict[str, Any]) -> Elasticsearch:
        return client(props["connection"])

    def key(self, props: dict[str, Any]) -> str:
        return props["name"]

    def is_transient(self, error: Exception) -> bool:
        elasticsearch, elastic_transport = _client_modules()
        if isinstance(error, elastic_transport.TlsError):
            return False  # a certificate problem does not heal by waiting
        if isinstance(error, (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout)):
            return True
        return isinstance(error, elasticsearch.ApiError) and error.meta.status in TRANSIENT_STATUSES

    def _get(self, call) -> Any:
        try:
            return call()
        except _client_modules()[0].NotFoundError:
            return None

    def _delete(self, call) -> None:
        try:
            call()
        except _client_modules()[0].NotFoundError:
            raise NotFound() from None


class IndexTemplateProvider(_ElasticsearchProvider):
    kind = "elasticsearch index template"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return props["body"]

    def fetch(self, es: Elasticsearch, key: str) -> dict[str, Any] | None:
        found = self._get(lambda: es.indices.get_index_template(name=key))
        if found is None:
            return None
        matches = [item["index_template"] for item in found.body["index_templates"] if item["name"] == key]
        if not matches:
            return None
        live = writable("index_template", matches[0])
        if "template" in live:
            live["template"] = writable("index_template.template", live["template"])
        return live

    def put(self, es: Elasticsearch, key: str, body: dict[str, Any]) -> None:
        es.indices.put_index_template(name=key, body=body)

    def remove(self, es: Elasticsearch, key: str) -> None:
        self._delete(lambda: es.indices.delete_index_template(name=key))


class IlmPolicyProvider(_ElasticsearchProvider):
    kind = "elasticsearch ILM policy"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"policy": props["policy"]}

    def fetch(self, es: Elasticsearch, key: str) -> dict[str, Any] | None:
        found = self._get(lambda: es.ilm.get_lifecycle(name=key))
        if found is None or key not in found.body:
            return None
        return {"policy": found.body[key]["policy"]}

    def put(self, es: Elasticsearch, key: str, body: dict[str, Any]) -> None:
        es.ilm.put_lifecycle(name=key, body=body)

    def remove(self, es: Elasticsearch, key: str) -> None:
        self._delete(lambda: es.ilm.delete_lifecycle(name=key))


class RoleProvider(_ElasticsearchProvider):
    kind = "elasticsearch role"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return props["role"]

    def fetch(self, es: Elasticsearch, key: str) -> dict[str, Any] | None:
        found = self._get(lambda: es.security.get_role(name=key))
        if not found or key not in found.body:
            return None
        return writable("role", found.body[key])

    def put(self, es: Elasticsearch, key: str, body: dict[str, Any]) -> None:
        es.security.put_role(name=key, body=body)

    def remove(self, es: Elasticsearch, key: str) -> None:
        self._delete(lambda: es.security.delete_role(name=key))


class UserProvider(_ElasticsearchProvider):
    """A native-realm user. Its password is written, never read back or stored: only hashed into state."""

    kind = "elasticsearch user"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"roles": list(props["roles"]), "full_name": props.get("full_name"), "email": None,
                "metadata": props.get("metadata") or {}, "enabled": True}

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"password": props["password"]}

    def fetch(self, es: Elasticsearch, key: str) -> dict[str, Any] | None:
        found = self._get(lambda: es.security.get_user(username=key))
        if not found or key not in found.body:
            return None
        return writable("user", found.body[key])

    def put(self, es: Elasticsearch, key: str, body: dict[str, Any]) -> None:
        es.security.put_user(username=key, body=body)

    def remove(self, es: Elasticsearch, key: str) -> None:
        self._delete(lambda: es.security.delete_user(username=key))


class SnapshotRepositoryProvider(_ElasticsearchProvider):
    """A snapshot repository. Creating it makes every node write and read a test blob (`verify`, the server's
    default), so a repository the nodes cannot reach fails the apply instead of the first snapshot."""

    kind = "elasticsearch snapshot repository"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return props["repository"]

    def fetch(self, es: Elasticsearch, key: str) -> dict[str, Any] | None:
        found = self._get(lambda: es.snapshot.get_repository(name=key))
        if found is None or key not in found.body:
            return None
        return writable("repository", found.body[key])

    def put(self, es: Elasticsearch, key: str, body: dict[str, Any]) -> None:
        es.snapshot.create_repository(name=key, body=body)

    def remove(self, es: Elasticsearch, key: str) -> None:
        # Unregisters the repository; the snapshots stay in the bucket and a repository of the same settings
        # finds them again.
        self._delete(lambda: es.snapshot.delete_repository(name=key))


class SlmPolicyProvider(_ElasticsearchProvider):
    kind = "elasticsearch snapshot lifecycle policy"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return props["policy"]

    def fetch(self, es: Elasticsearch, key: str) -> dict[str, Any] | None:
        found = self._get(lambda: es.slm.get_lifecycle(policy_id=key))
        if found is None or key not in found.body:
            return None
        return writable("slm_policy", found.body[key]["policy"])

    def put(self, es: Elasticsearch, key: str, body: dict[str, Any]) -> None:
        es.slm.put_lifecycle(policy_id=key, body=body)

    def remove(self, es: Elasticsearch, key: str) -> None:
        # Stops taking snapshots; those already taken stay until deleted from the repository.
        self._delete(lambda: es.slm.delete_lifecycle(policy_id=key))


class IndexTemplate(ProviderResource, module="elasticsearch", name="IndexTemplate"):
    """A composable index template (`PUT _index_template/<name>`)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, body: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(IndexTemplateProvider(), resource_name,
                         {"connection": connection, "name": name, "body": body}, opts)


class IlmPolicy(ProviderResource, module="elasticsearch", name="IlmPolicy"):
    """An index lifecycle policy (`PUT _ilm/policy/<name>`)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, policy: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(IlmPolicyProvider(), resource_name,
                         {"connection": connection, "name": name, "policy": policy}, opts)


class Role(ProviderResource, module="elasticsearch", name="Role"):
    """A security role (`PUT _security/role/<name>`)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, role: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RoleProvider(), resource_name, {"connection": connection, "name": name, "role": role}, opts)


class User(ProviderResource, module="elasticsearch", name="User"):
    """A native-realm user (`PUT _security/user/<name>`) holding the given roles."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, roles: list[str],
                 password: pulumi.Input[str], full_name: str | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            UserProvider(),
            resource_name,
            {"connection": connection, "name": name, "roles": roles, "full_name": full_name,
             "password": pulumi.Output.secret(password)},
            opts,
        )


class SnapshotRepository(ProviderResource, module="elasticsearch", name="SnapshotRepository"):
    """A snapshot repository (`PUT _snapshot/<name>`)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str,
                 repository: pulumi.Input[dict], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SnapshotRepositoryProvider(), resource_name,
                         {"connection": connection, "name": name, "repository": repository}, opts)


class SlmPolicy(ProviderResource, module="elasticsearch", name="SlmPolicy"):
    """A snapshot lifecycle policy (`PUT _slm/policy/<id>`): snapshots on a schedule, deleted after a retention."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, policy: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SlmPolicyProvider(), resource_name,
                         {"connection": connection, "name": name, "policy": policy}, opts)
