"""An in-process HTTPS server that answers like Elasticsearch for the endpoints the platform's providers use.

    with FakeElasticsearch.start(pki, version="9.5.0") as server:
        server.url                               # https://127.0.0.1:PORT
        server.fail("status", status=503)        # the next matching request gets a 503
        server.fail("timeout"); server.fail("drop")

Endpoints, following the documented REST API: `/_index_template/{name}`, `/_ilm/policy/{name}`,
`/_security/role/{name}` and `/_security/user/{name}` (PUT, GET, DELETE), and `GET /`. Like the real server it
requires basic authentication, answers with the `X-Elastic-Product` header the official client checks, enforces
REST API compatibility (`application/vnd.elasticsearch+json; compatible-with=N` is accepted for N = major and
major - 1, must be the same on Accept and Content-Type, and anything else is a 400 `media_type_header_exception`,
which is what an 8.x server answers a 9.x client), rejects unknown fields, unknown mapping types and parameters,
unknown settings, ILM actions outside their phase, bad time values, unknown privileges and short passwords, and
returns stored objects in the normalised form the real server returns (settings nested with string values,
ILM defaults filled in, role defaults added, no passwords). Every request is recorded for assertions.

It is a model of the API, not Elasticsearch: no documents, no indices, no cluster state beyond these objects.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.support.fake_https import FaultQueue, serve_https
from tests.support.tls import TestPki

ADMIN = ("elastic-admin", "admin-password-for-tests")
COMPAT = re.compile(r"^application/vnd\.elasticsearch\+json\s*;\s*compatible-with\s*=\s*(\d+)$")

TEMPLATE_FIELDS = {"index_patterns", "template", "composed_of", "priority", "version", "_meta", "data_stream",
                   "allow_auto_create", "ignore_missing_component_templates", "deprecated"}
TEMPLATE_BODY_FIELDS = {"settings", "mappings", "aliases", "lifecycle", "data_stream_options"}
MAPPINGS_FIELDS = {"dynamic", "properties", "_source", "date_detection", "numeric_detection", "dynamic_templates",
                   "_meta", "_routing", "runtime"}
COMMON_PARAMS = {"type", "meta", "store", "index", "doc_values", "fields", "copy_to"}
TYPE_PARAMS = {
    "keyword": {"ignore_above", "normalizer", "null_value", "eager_global_ordinals", "similarity", "norms",
                "index_options", "split_queries_on_whitespace", "script", "on_script_error", "time_series_dimension"},
    "text": {"analyzer", "search_analyzer", "search_quote_analyzer", "norms", "fielddata", "index_options",
             "index_prefixes", "index_phrases", "position_increment_gap", "similarity", "term_vector",
             "eager_global_ordinals", "fielddata_frequency_filter"},
    "match_only_text": set(),
    "date": {"format", "locale", "ignore_malformed", "null_value", "script", "on_script_error"},
    "date_nanos": {"format", "locale", "ignore_malformed", "null_value"},
    "boolean": {"null_value", "script", "on_script_error"},
    "ip": {"ignore_malformed", "null_value", "script", "on_script_error"},
    "object": {"properties", "dynamic", "enabled", "subobjects"},
    "flattened": {"depth_limit", "ignore_above", "null_value", "eager_global_ordinals", "similarity"},
}
NUMERIC_TYPES = ("long", "integer", "short", "byte", "double", "float", "half_float", "unsigned_long")
for _numeric in NUMERIC_TYPES:
    TYPE_PARAMS[_numeric] = {"coerce", "ignore_malformed", "null_value", "script", "on_script_error",
                             "time_series_metric", "time_series_dimension"}
DATE_FORMATS = {"strict_date_optional_time", "date_optional_time", "epoch_millis", "epoch_second",
                "strict_date_time", "date_time", "basic_date_time", "strict_date_optional_time_nanos"}
INDEX_SETTINGS = {"number_of_shards", "number_of_replicas", "refresh_interval", "codec", "lifecycle.name",
                  "lifecycle.parse_origination_date", "lifecycle.origination_date", "lifecycle.rollover_alias",
                  "mapping.total_fields.limit", "default_pipeline", "auto_expand_replicas", "hidden"}
ILM_ACTIONS = {
    "hot": {"set_priority", "unfollow", "rollover", "readonly", "downsample", "shrink", "forcemerge",
            "searchable_snapshot"},
    "warm": {"set_priority", "unfollow", "readonly", "allocate", "migrate", "shrink", "forcemerge", "downsample"},
    "cold": {"set_priority", "unfollow", "readonly", "searchable_snapshot", "allocate", "migrate", "downsample"},
    "frozen": {"unfollow", "searchable_snapshot"},
    "delete": {"wait_for_snapshot", "delete"},
}
TIME_VALUE = re.compile(r"^\d+(nanos|micros|ms|s|m|h|d)$")
CLUSTER_PRIVILEGES = {
    "all", "cancel_task", "create_snapshot", "grant_api_key", "manage", "manage_api_key", "manage_ccr",
    "manage_enrich", "manage_ilm", "manage_index_templates", "manage_inference", "manage_ingest_pipelines",
    "manage_logstash_pipelines", "manage_ml", "manage_oidc", "manage_own_api_key", "manage_pipeline",
    "manage_rollup", "manage_saml", "manage_search_application", "manage_security", "manage_service_account",
    "manage_slm", "manage_token", "manage_transform", "manage_watcher", "monitor", "monitor_enrich",
    "monitor_inference", "monitor_ml", "monitor_rollup", "monitor_snapshot", "monitor_stats", "monitor_text_structure",
    "monitor_transform", "monitor_watcher", "read_ccr", "read_ilm", "read_pipeline", "read_security", "read_slm",
    "transport_client", "manage_user_profile", "manage_data_stream_global_retention",
}
INDEX_PRIVILEGES = {
    "all", "auto_configure", "create", "create_doc", "create_index", "cross_cluster_replication",
    "cross_cluster_replication_internal", "delete", "delete_index", "index", "maintenance", "manage",
    "manage_data_stream_lifecycle", "manage_follow_index", "manage_ilm", "manage_leader_index", "monitor", "read",
    "read_cross_cluster", "view_index_metadata", "write",
}
ROLE_FIELDS = {"cluster", "indices", "applications", "run_as", "metadata", "global", "remote_indices",
               "remote_cluster", "description"}
ROLE_INDEX_FIELDS = {"names", "privileges", "field_security", "query", "allow_restricted_indices"}
USER_FIELDS = {"password", "password_hash", "roles", "full_name", "email", "metadata", "enabled"}


class ApiFailureError(Exception):
    def __init__(self, status: int, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error_type, self.reason = status, error_type, reason

    def body(self) -> dict[str, Any]:
        cause = {"type": self.error_type, "reason": self.reason}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def bad_request(error_type: str, reason: str) -> ApiFailureError:
    return ApiFailureError(400, error_type, reason)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeElasticsearch(FaultQueue):
    version: str = "9.5.0"
    url: str = ""
    templates: dict[str, dict] = field(default_factory=dict)
    policies: dict[str, dict] = field(default_factory=dict)
    roles: dict[str, dict] = field(default_factory=dict)
    users: dict[str, dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def writes(self) -> list[Request]:
        return [request for request in self.requests if request.method in ("PUT", "POST", "DELETE")]

    @classmethod
    @contextmanager
    def start(cls, pki: TestPki, version: str = "9.5.0") -> Iterator[FakeElasticsearch]:
        fake = cls(version=version)
        with serve_https(_handler_for(fake), pki) as fake.url:
            yield fake

    # ---- the API ------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        self._check_auth(headers)
        self._check_media_types(headers, bool(raw))
        body = self._parse(raw) if raw else None
        with self.lock:
            self.requests.append(Request(method, path, headers, body))
        parts = [part for part in path.split("/") if part]
        if parts == [] and method in ("GET", "HEAD"):
            return 200, {"name": "fake", "cluster_name": "fake", "version": {"number": self.version},
                         "tagline": "You Know, for Search"}
        routes = {
            ("_index_template",): (self.templates, self._put_template, self._get_template),
            ("_ilm", "policy"): (self.policies, self._put_policy, self._get_policy),
            ("_security", "role"): (self.roles, self._put_role, self._get_role),
            ("_security", "user"): (self.users, self._put_user, self._get_user),
        }
        for prefix, (store, put, get) in routes.items():
            if tuple(parts[: len(prefix)]) == prefix and len(parts) == len(prefix) + 1:
                name = parts[-1]
                if method in ("PUT", "POST"):
                    if body is None:
                        raise bad_request("parse_exception", "request body is required")
                    with self.lock:
                        return 200, put(name, body)
                if method == "GET":
                    with self.lock:
                        if name not in store:
                            return self._missing(prefix, name)
                        return 200, get(name)
                if method == "DELETE":
                    with self.lock:
                        if name not in store:
                            return self._missing(prefix, name, deleting=True)
                        del store[name]
                    return 200, {"found": True} if prefix[0] == "_security" else {"acknowledged": True}
        raise bad_request("illegal_argument_exception", f"no handler found for uri [{path}] and method [{method}]")

    def _missing(self, prefix: tuple[str, ...], name: str, deleting: bool = False) -> tuple[int, Any]:
        if prefix[0] == "_security":
            return 404, {"found": False} if deleting else {}
        if prefix == ("_ilm", "policy"):
            raise ApiFailureError(404, "resource_not_found_exception", f"Lifecycle policy not found: {name}")
        raise ApiFailureError(404, "resource_not_found_exception", f"index template matching [{name}] not found")

    def _check_auth(self, headers: dict[str, str]) -> None:
        expected = "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        if headers.get("authorization") != expected:
            raise ApiFailureError(401, "security_exception", "unable to authenticate user for REST request")

    def _check_media_types(self, headers: dict[str, str], has_body: bool) -> None:
        accept = headers.get("accept", "application/json")
        content = headers.get("content-type", "")
        versions = []
        for value in (accept, content if has_body else ""):
            match = COMPAT.match(value.strip())
            if match:
                versions.append(int(match[1]))
            elif value and not value.startswith(("application/json", "*/*")):
                raise bad_request("media_type_header_exception", f"Invalid media-type value on header [{value}]")
        compatible = {self.major, self.major - 1}
        if versions and (
            any(version not in compatible for version in versions)
            or (has_body and len(versions) != 2)
            or len(set(versions)) > 1
        ):
            raise bad_request(
                "media_type_header_exception",
                f"Invalid media-type value on headers [Accept, Content-Type]: a compatible version is required on "
                f"both Content-Type and Accept headers and must be {self.major} or {self.major - 1}; "
                f"Accept={accept}, Content-Type={content}",
            )

    @staticmethod
    def _parse(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            raise bad_request("x_content_parse_exception", f"Failed to parse request body: {error}") from None

    # ---- index templates ----------------------------------------------------------------------------

    def _put_template(self, name: str, body: dict) -> dict:
        _only(body, TEMPLATE_FIELDS, "index_template")
        patterns = body.get("index_patterns")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise bad_request("action_request_validation_exception",
                              "Validation Failed: 1: index patterns are missing;")
        template = body.get("template", {})
        _only(template, TEMPLATE_BODY_FIELDS, "template")
        settings = _flat_settings(template.get("settings", {}))
        for key in settings:
            if key.removeprefix("index.") not in INDEX_SETTINGS:
                raise bad_request("illegal_argument_exception", f"unknown setting [{key}] please check that any "
                                  "required plugins are installed, or check the breaking changes documentation "
                                  "for removed settings")
        if "mappings" in template:
            _check_mappings(template["mappings"])
        priority = body.get("priority", 0)
        if not isinstance(priority, int) or priority < 0:
            raise bad_request("illegal_argument_exception", "priority must be a non-negative integer")
        for other, existing in self.templates.items():
            if other == name or existing.get("priority", 0) != priority:
                continue
            if _overlap(patterns, existing["index_patterns"]):
                raise bad_request(
                    "illegal_argument_exception",
                    f"index template [{name}] has index patterns {patterns} matching patterns from existing "
                    f"templates [{other}] with patterns ({other} => {existing['index_patterns']}) that have the "
                    f"same priority [{priority}], multiple index templates may not match during index creation, "
                    "please use a different priority",
                )
        stored = {"index_patterns": patterns, "composed_of": body.get("composed_of", []), **{
            key: value for key, value in body.items() if key not in ("index_patterns", "composed_of", "template")}}
        if template:
            stored["template"] = dict(template)
            if settings:
                stored["template"]["settings"] = _nested_settings(settings)
        self.templates[name] = stored
        return {"acknowledged": True}

    def _get_template(self, name: str) -> dict:
        return {"index_templates": [{"name": name, "index_template": self.templates[name]}]}

    # ---- ILM ----------------------------------------------------------------------------------------

    def _put_policy(self, name: str, body: dict) -> dict:
        _only(body, {"policy"}, "put_lifecycle_request")
        policy = body["policy"]
        _only(policy, {"phases", "_meta"}, "policy")
        normalised: dict[str, Any] = {}
        for phase, definition in policy.get("phases", {}).items():
            if phase not in ILM_ACTIONS:
                raise bad_request("illegal_argument_exception", f"Lifecycle does not support phase [{phase}]")
            _only(definition, {"min_age", "actions"}, "phase")
            min_age = definition.get("min_age", "0ms")
            if not isinstance(min_age, str) or not TIME_VALUE.match(min_age):
                raise bad_request("illegal_argument_exception", f"failed to parse setting [min_age] with value "
                                  f"[{min_age}] as a time value: unit is missing or unrecognized")
            actions = {}
            for action, options in definition.get("actions", {}).items():
                if action not in ILM_ACTIONS[phase]:
                    raise bad_request("illegal_argument_exception",
                                      f"invalid action [{action}] defined in phase [{phase}]")
                if action == "delete":
                    _only(options, {"delete_searchable_snapshot"}, "delete")
                    options = {"delete_searchable_snapshot": True, **options}
                actions[action] = options
            normalised[phase] = {"min_age": min_age, "actions": actions}
        previous = self.policies.get(name)
        stored = {"phases": normalised, **({"_meta": policy["_meta"]} if "_meta" in policy else {})}
        self.policies[name] = {"version": previous["version"] + 1 if previous else 1,
                               "modified_date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                               "policy": stored}
        return {"acknowledged": True}

    def _get_policy(self, name: str) -> dict:
        return {name: {**self.policies[name], "in_use_by": {"indices": [], "data_streams": [],
                                                            "composable_templates": []}}}

    # ---- security -----------------------------------------------------------------------------------

    def _put_role(self, name: str, body: dict) -> dict:
        unknown = sorted(set(body) - ROLE_FIELDS)
        if unknown:
            raise bad_request("parse_exception", f"failed to parse role [{name}]. unexpected field [{unknown[0]}]")
        for privilege in body.get("cluster", []):
            if privilege not in CLUSTER_PRIVILEGES and not privilege.startswith("cluster:"):
                raise bad_request("illegal_argument_exception", f"unknown cluster privilege [{privilege}]. a "
                                  "privilege must be either one of the predefined cluster privilege names or a "
                                  "pattern over one of the available cluster actions")
        indices = []
        for entry in body.get("indices", []):
            unknown = sorted(set(entry) - ROLE_INDEX_FIELDS)
            if unknown:
                raise bad_request("parse_exception", f"failed to parse indices privileges for role [{name}]. "
                                  f"unexpected field [{unknown[0]}]")
            if not entry.get("names") or not entry.get("privileges"):
                raise bad_request("parse_exception", f"failed to parse indices privileges for role [{name}]. "
                                  "missing required [names] or [privileges] field")
            for privilege in entry["privileges"]:
                if privilege not in INDEX_PRIVILEGES:
                    raise bad_request("illegal_argument_exception", f"unknown index privilege [{privilege}]")
            indices.append({**entry, "allow_restricted_indices": entry.get("allow_restricted_indices", False)})
        created = name not in self.roles
        self.roles[name] = {"cluster": body.get("cluster", []), "indices": indices,
                            "applications": body.get("applications", []), "run_as": body.get("run_as", []),
                            "metadata": body.get("metadata", {}), "transient_metadata": {"enabled": True},
                            **({"description": body["description"]} if "description" in body else {})}
        return {"role": {"created": created}}

    def _get_role(self, name: str) -> dict:
        return {name: self.roles[name]}

    def _put_user(self, name: str, body: dict) -> dict:
        unknown = sorted(set(body) - USER_FIELDS)
        if unknown:
            raise bad_request("parse_exception", f"failed to parse add user request. unexpected field "
                              f"[{unknown[0]}]")
        created = name not in self.users
        password = body.get("password")
        if created and password is None and "password_hash" not in body:
            raise bad_request("action_request_validation_exception", "Validation Failed: 1: password must be "
                              "specified unless you are updating an existing user;")
        if password is not None and len(password) < 6:
            raise bad_request("action_request_validation_exception",
                              "Validation Failed: 1: passwords must be at least [6] characters long;")
        if not isinstance(body.get("roles"), list):
            raise bad_request("action_request_validation_exception", "Validation Failed: 1: roles are missing;")
        previous = self.users.get(name, {})
        self.users[name] = {"username": name, "roles": body["roles"], "full_name": body.get("full_name"),
                            "email": body.get("email"), "metadata": body.get("metadata", {}),
                            "enabled": body.get("enabled", True),
                            "_password": password if password is not None else previous.get("_password")}
        return {"created": created}

    def _get_user(self, name: str) -> dict:
        return {name: {key: value for key, value in self.users[name].items() if not key.startswith("_")}}


def _only(body: Any, allowed: set[str], what: str) -> None:
    if not isinstance(body, dict):
        raise bad_request("x_content_parse_exception", f"[{what}] expected an object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request("x_content_parse_exception", f"[1:2] [{what}] unknown field [{unknown[0]}]")


def _flat_settings(settings: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_settings(value, f"{path}."))
        else:
            flat[path if path.startswith("index.") else f"index.{path}"] = (
                str(value).lower() if isinstance(value, bool) else str(value))
    return flat


def _nested_settings(flat: dict[str, str]) -> dict:
    nested: dict = {}
    for path, value in flat.items():
        node = nested
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _check_mappings(mappings: Any) -> None:
    _only(mappings, MAPPINGS_FIELDS, "mappings")
    dynamic = mappings.get("dynamic", True)
    if dynamic not in (True, False, "true", "false", "strict", "runtime"):
        raise bad_request("mapper_parsing_exception", "Failed to parse mapping: Could not convert [dynamic.dynamic]"
                          " to boolean")
    _check_properties(mappings.get("properties", {}))


def _check_properties(properties: dict, parent: str = "") -> None:
    for name, definition in properties.items():
        path = f"{parent}{name}"
        if not isinstance(definition, dict):
            raise bad_request("mapper_parsing_exception", f"Failed to parse mapping: Expected map for property "
                              f"[fields] on field [{path}] but got a class java.lang.String")
        type_ = definition.get("type", "object" if "properties" in definition else None)
        if type_ is None:
            raise bad_request("mapper_parsing_exception",
                              f"Failed to parse mapping: No type specified for field [{path}]")
        if type_ not in TYPE_PARAMS:
            raise bad_request("mapper_parsing_exception",
                              f"Failed to parse mapping: No handler for type [{type_}] declared on field [{name}]")
        for parameter in definition:
            if parameter not in COMMON_PARAMS | TYPE_PARAMS[type_]:
                raise bad_request("mapper_parsing_exception", f"Failed to parse mapping: unknown parameter "
                                  f"[{parameter}] on mapper [{path}] of type [{type_}]")
        if "format" in definition:
            for fmt in str(definition["format"]).split("||"):
                if fmt not in DATE_FORMATS and not re.fullmatch(r"[yMdHmsSXZ'T:.\- ]+", fmt):
                    raise bad_request("mapper_parsing_exception", f"Failed to parse mapping: Invalid format: "
                                      f"[{definition['format']}]: Unknown pattern letter")
        if "ignore_above" in definition and (not isinstance(definition["ignore_above"], int)
                                             or definition["ignore_above"] < 0):
            raise bad_request("mapper_parsing_exception",
                              f"Failed to parse mapping: [ignore_above] must be positive, got "
                              f"[{definition['ignore_above']}]")
        if type_ == "object":
            _check_properties(definition.get("properties", {}), f"{path}.")


def _overlap(ours: list[str], theirs: list[str]) -> bool:
    """Whether two sets of index patterns can match a common name (wildcards on either side)."""
    for left in ours:
        for right in theirs:
            if fnmatch.fnmatchcase(left.replace("*", "x"), right) or fnmatch.fnmatchcase(right.replace("*", "x"),
                                                                                        left):
                return True
    return False


def _handler_for(fake: FakeElasticsearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _serve(self) -> None:
            path = urlsplit(self.path).path
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            fault = fake.take_fault(self.command, path)
            if fault and fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault and fault.kind == "timeout":
                time.sleep(fault.delay)
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                if fault and fault.kind == "status":
                    raise ApiFailureError(fault.status, "unavailable_shards_exception" if fault.status >= 500
                                     else "version_conflict_engine_exception", f"injected fault {fault.status}")
                status, body = fake.handle(self.command, path, headers, raw)
            except ApiFailureError as failure:
                status, body = failure.status, failure.body()
            payload = b"" if self.command == "HEAD" else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", f"application/vnd.elasticsearch+json;compatible-with={fake.major}")
                self.send_header("Content-Length", str(len(payload)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="security", charset="UTF-8"')
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.close_connection = True

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve  # noqa: N815 (http.server's names)

    return Handler
