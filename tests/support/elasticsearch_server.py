"""An in-process HTTPS server that answers like an Elasticsearch 9.x server, derived from the vendor's specification.

    with FakeElasticsearch.start(pki, version="9.5.0") as server:
        server.url                               # https://127.0.0.1:PORT
        server.fail("status", status=503)        # the next matching request gets a 503
        server.fail("timeout"); server.fail("drop")
        server.violations                        # [] when every request and answer was within the specification

Every request is routed through the compiled Elasticsearch specification (`tests/support/es_spec.py`, the 9.5
model in `vendor-specs`): a method and path no endpoint declares gets the server's 400 ("no handler found") or
405, and is recorded in `violations`; an endpoint's query parameters and body are checked against its request type
(required fields, unknown fields where the type is closed, value kinds), and a body the type refuses gets a 400
`x_content_parse_exception` naming the field (recorded in `refused`). The endpoints the platform uses are
modelled (`HANDLERS`: info, index templates, ILM policies, roles, users, snapshot repositories, SLM policies and
their runs, snapshots and their restore, closing, opening and finding an index); a declared endpoint the fake does
not model answers 500 and is a violation. Every answer, errors included, is checked against the endpoint's response
type before it is sent; one outside the specification answers 500 and is a violation, so a test sees it.

Beyond the specification, it behaves as the server does where the platform relies on it: basic authentication,
the `X-Elastic-Product` header the official client checks, REST API compatibility
(`application/vnd.elasticsearch+json; compatible-with=N` accepted for N = major and major - 1, the same on Accept and
Content-Type, else a 400 `media_type_header_exception`, which is what an 8.x server answers a 9.x client), unknown
mapping types, unknown settings, ILM actions outside their phase, privileges outside the specification's lists
(or action patterns), overlapping templates of one priority, short passwords. It answers in the server's
normalised form: settings nested with string values; ILM defaults filled in, a `version` counted up on every
write, `modified_date` and `in_use_by`; role defaults (`allow_restricted_indices`, `transient_metadata`); index
templates with the 9.2+ `created_date_millis` and `modified_date_millis` (and `created_date`/`modified_date` only
with `?human=true`); users without their password (only a `profile_uid` when asked `with_profile_uid`, and
these users have no profile); repositories with a `uuid` and their settings as strings, verified on creation (a
bucket in `unreachable_buckets` fails the verification as nodes that cannot reach it do); SLM policies checked
for their repository, cron schedule, snapshot name and retention, answered with `version`, dates, `next_execution`
and per-policy `stats`; `_execute` takes a snapshot of the open indices the policy's patterns match, named by the
policy's date math with a suffix (into a `readonly` repository it answers the name but records a failure and takes
no snapshot, as the server's snapshot service refuses one there); a restore refuses an index whose name is taken by
an open index, restores over a closed one, renames with `rename_pattern`/`rename_replacement` and drops
`ignore_index_settings`. Times come from a counter, so answers are deterministic. Every request is recorded.

It is a model of the API, not Elasticsearch: no documents; indices are names with a state and settings
(`add_index`), snapshots hold copies of them; no cluster state beyond these objects.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import re
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.es_spec import Endpoint, SpecModel
from tests.support.fake_https import FaultQueue, serve_https
from tests.support.tls import TestPki

ADMIN = ("elastic-admin", "admin-password-for-tests")
COMPAT = re.compile(r"^application/vnd\.elasticsearch\+json\s*;\s*compatible-with\s*=\s*(\d+)$")
EPOCH_MILLIS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the fake's clock starts here and ticks a second a write
# What the server checks beyond the specification (its `IndexSettings` is open, its `Property` union
# non-exhaustive, its privilege enums open): the mapping types and parameters, settings and ILM actions the server
# knows, among those the platform could plausibly write.
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
# SLM's cron: seconds, minutes, hours, day of month, month, day of week, optional year.
CRON = re.compile(r"^\S+( \S+){5,6}$")
TIME_VALUE = re.compile(r"^\d+(nanos|micros|ms|s|m|h|d)$")
# A privilege outside the named ones must be an action pattern (`cluster:monitor/*`, `indices:data/read/*`).
ACTION_PATTERN = re.compile(r"^(cluster|indices|internal):[a-z_/*]+")


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
    query: dict[str, list[str]] = field(default_factory=dict)
    endpoint: str | None = None


@dataclass
class FakeElasticsearch(FaultQueue):
    version: str = "9.5.0"
    url: str = ""
    templates: dict[str, dict] = field(default_factory=dict)
    policies: dict[str, dict] = field(default_factory=dict)
    roles: dict[str, dict] = field(default_factory=dict)
    users: dict[str, dict] = field(default_factory=dict)
    repositories: dict[str, dict] = field(default_factory=dict)
    slm_policies: dict[str, dict] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    """Why snapshots the server refused after answering (`_execute` into a read-only repository) failed."""
    indices: dict[str, dict] = field(default_factory=dict)
    """Index name -> {"state": "open" | "close", "settings": flat index settings}."""
    snapshots: dict[str, dict[str, dict]] = field(default_factory=dict)
    """Repository -> snapshot name -> {"info": the SnapshotInfo answered, "indices": name -> index copy}."""
    unreachable_buckets: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Requests to no declared endpoint, endpoints the fake does not model, answers outside the specification."""
    refused: list[str] = field(default_factory=list)
    """Requests refused because the endpoint's request type does not admit them (what the server's parser refuses)."""
    ticks: int = 0
    spec: SpecModel = field(default_factory=SpecModel.load)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def writes(self) -> list[Request]:
        return [request for request in self.requests if request.method in ("PUT", "POST", "DELETE")]

    def now_millis(self) -> int:
        self.ticks += 1
        return EPOCH_MILLIS + 1000 * self.ticks

    def add_index(self, name: str, settings: dict[str, str] | None = None, state: str = "open") -> None:
        """An index as the log shipper's writes would have created it (the fake holds no documents)."""
        self.indices[name] = {"state": state, "settings": dict(settings or {})}

    @classmethod
    @contextmanager
    def start(cls, pki: TestPki, version: str = "9.5.0") -> Iterator[FakeElasticsearch]:
        fake = cls(version=version)
        with serve_https(_handler_for(fake), pki) as fake.url:
            yield fake

    # ---- the API ------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str],
               raw: bytes) -> tuple[Endpoint | None, int, Any]:
        """Answer one request: (the endpoint it called, status, body). Failures raise ApiFailureError."""
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        self._check_auth(headers)
        self._check_media_types(headers, bool(raw))
        body = self._parse(raw) if raw else None
        routed = self.spec.route(method, path)
        with self.lock:
            self.requests.append(Request(method, path, headers, body, query, routed[0].name if routed else None))
        if routed is None:
            allowed = sorted(self.spec.methods_for(path))
            self.violations.append(f"{method} {path}: no endpoint of the specification")
            if allowed:
                raise ApiFailureError(405, "method_not_allowed", f"Incorrect HTTP method for uri [{path}] and "
                                      f"method [{method}], allowed: {allowed}")
            raise bad_request("illegal_argument_exception", f"no handler found for uri [{path}] and method [{method}]")
        endpoint, params = routed
        try:
            return (endpoint, *self._call(endpoint, params, query, body, bool(raw), f"{method} {path}"))
        except ApiFailureError as failure:
            return endpoint, failure.status, failure.body()

    def _call(self, endpoint: Endpoint, params: dict[str, str], query: dict[str, list[str]], body: Any,
              has_body: bool, what: str) -> tuple[int, Any]:
        problems = self.spec.request_problems(endpoint, params, query, body, has_body=has_body)
        if problems:
            with self.lock:
                self.refused.append(f"{what}: {'; '.join(problems)}")
            raise bad_request("x_content_parse_exception", f"[{endpoint.name}] {'; '.join(problems)}")
        handler = HANDLERS.get(endpoint.name)
        if handler is None:
            with self.lock:
                self.violations.append(f"{what}: {endpoint.name} is not modelled by the fake")
            raise ApiFailureError(500, "fake_unsupported_endpoint", f"{endpoint.name} is not modelled")
        with self.lock:
            return handler(self, params, query, body)

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes,
               fault_status: int | None = None) -> tuple[int, Any]:
        """The status and body sent for a request, checked against the endpoint's response type first: an answer
        outside it is recorded in `violations` and replaced by a 500."""
        path = urlsplit(target).path
        routed = self.spec.route(method, path)
        endpoint = routed[0] if routed else None
        try:
            if fault_status is not None:
                raise ApiFailureError(fault_status, "unavailable_shards_exception" if fault_status >= 500
                                      else "version_conflict_engine_exception", f"injected fault {fault_status}")
            _endpoint, status, body = self.handle(method, target, headers, raw)
        except ApiFailureError as failure:
            status, body = failure.status, failure.body()
        if method == "HEAD":
            body = None
        # A HEAD answer carries no body (HTTP): its status alone says found (2xx, the endpoint's `no_body`) or not.
        if endpoint is not None and not (method == "HEAD" and status >= 400):
            problems = self.spec.response_problems(endpoint, status, body)
            if problems:
                with self.lock:
                    self.violations.append(f"{method} {path} answered {status} outside {endpoint.name}'s response "
                                           f"type: {'; '.join(problems)}")
                failure = ApiFailureError(500, "fake_answer_outside_specification", "; ".join(problems))
                return failure.status, failure.body()
        return status, body

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

    # ---- the cluster --------------------------------------------------------------------------------

    def _info(self, _params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        return 200, {"name": "fake-0", "cluster_name": "logs", "cluster_uuid": "fake-cluster-uuid",
                     "version": {"number": self.version, "build_flavor": "default", "build_type": "docker",
                                 "build_hash": "0" * 40, "build_date": "2026-01-01T00:00:00.000Z",
                                 "build_snapshot": False, "lucene_version": "10.3.0",
                                 "minimum_wire_compatibility_version": f"{self.major - 1}.19.0",
                                 "minimum_index_compatibility_version": f"{self.major - 1}.0.0"},
                     "tagline": "You Know, for Search"}

    def _ping(self, _params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        return 200, None

    # ---- index templates ----------------------------------------------------------------------------

    def _put_template(self, params: dict, query: dict, body: dict) -> tuple[int, Any]:
        name = params["name"]
        if _flag(query, "create") and name in self.templates:
            raise bad_request("illegal_argument_exception", f"index template [{name}] already exists")
        patterns = body.get("index_patterns")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise bad_request("action_request_validation_exception",
                              "Validation Failed: 1: index patterns are missing;")
        template = body.get("template", {})
        settings = _flat_settings(template.get("settings", {}))
        for key in settings:
            if key.removeprefix("index.") not in INDEX_SETTINGS:
                raise bad_request("illegal_argument_exception", f"unknown setting [{key}] please check that any "
                                  "required plugins are installed, or check the breaking changes documentation "
                                  "for removed settings")
        if "mappings" in template:
            _check_properties(template["mappings"].get("properties", {}))
        priority = body.get("priority", 0)
        if priority < 0:
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
        stored = {"index_patterns": patterns, **{
            key: value for key, value in body.items() if key not in ("index_patterns", "template")}}
        if template:
            stored["template"] = dict(template)
            if "settings" in template:
                stored["template"]["settings"] = _nested_settings(settings)
        now = self.now_millis()
        previous = self.templates.get(name)
        stored["created_date_millis"] = previous["created_date_millis"] if previous else now
        stored["modified_date_millis"] = now
        self.templates[name] = stored
        return 200, {"acknowledged": True}

    def _get_template(self, params: dict, query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.templates, params.get("name"))
        if names is None:
            raise ApiFailureError(404, "resource_not_found_exception",
                                  f"index template matching [{params['name']}] not found")
        human = _flag(query, "human")
        return 200, {"index_templates": [{"name": name, "index_template": _with_dates(self.templates[name], human)}
                                         for name in names]}

    def _delete_template(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        missing = [name for name in params["name"].split(",") if name not in self.templates]
        if missing:
            raise ApiFailureError(404, "resource_not_found_exception",
                                  f"index_template [{','.join(missing)}] missing")
        for name in params["name"].split(","):
            del self.templates[name]
        return 200, {"acknowledged": True}

    # ---- ILM ----------------------------------------------------------------------------------------

    def _put_policy(self, params: dict, _query: dict, body: dict) -> tuple[int, Any]:
        name = params["policy"]
        policy = body["policy"]
        normalised: dict[str, Any] = {}
        for phase, definition in policy["phases"].items():
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
                    options = {"delete_searchable_snapshot": True, **options}
                actions[action] = options
            normalised[phase] = {"min_age": min_age, "actions": actions}
        previous = self.policies.get(name)
        stored = {"phases": normalised, **({"_meta": policy["_meta"]} if "_meta" in policy else {})}
        self.policies[name] = {"version": previous["version"] + 1 if previous else 1,
                               "modified_date": _iso(self.now_millis()), "policy": stored}
        return 200, {"acknowledged": True}

    def _get_policy(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.policies, params.get("policy"))
        if names is None:
            raise ApiFailureError(404, "resource_not_found_exception",
                                  f"Lifecycle policy not found: {params['policy']}")
        return 200, {name: {**self.policies[name], "in_use_by": self._policy_users(name)} for name in names}

    def _policy_users(self, name: str) -> dict[str, list[str]]:
        templates = sorted(other for other, template in self.templates.items() if template.get("template", {}).get(
            "settings", {}).get("index", {}).get("lifecycle", {}).get("name") == name)
        return {"indices": [], "data_streams": [], "composable_templates": templates}

    def _delete_policy(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        name = params["policy"]
        if name not in self.policies:
            raise ApiFailureError(404, "resource_not_found_exception", f"Lifecycle policy not found: {name}")
        del self.policies[name]
        return 200, {"acknowledged": True}

    # ---- security -----------------------------------------------------------------------------------

    def _put_role(self, params: dict, _query: dict, body: dict) -> tuple[int, Any]:
        name = params["name"]
        cluster_names = self.spec_members(("security._types", "ClusterPrivilege"))
        index_names = self.spec_members(("security._types", "IndexPrivilege"))
        for privilege in body.get("cluster", []):
            if privilege not in cluster_names and not ACTION_PATTERN.match(privilege):
                raise bad_request("illegal_argument_exception", f"unknown cluster privilege [{privilege}]. a "
                                  "privilege must be either one of the predefined cluster privilege names or a "
                                  "pattern over one of the available cluster actions")
        indices = []
        for entry in body.get("indices", []):
            for privilege in entry["privileges"]:
                if privilege not in index_names and not ACTION_PATTERN.match(privilege):
                    raise bad_request("illegal_argument_exception", f"unknown index privilege [{privilege}]")
            names = entry["names"] if isinstance(entry["names"], list) else [entry["names"]]
            indices.append({**entry, "names": names,
                            "allow_restricted_indices": entry.get("allow_restricted_indices", False)})
        created = name not in self.roles
        self.roles[name] = {"cluster": body.get("cluster", []), "indices": indices,
                            "applications": body.get("applications", []), "run_as": body.get("run_as", []),
                            "metadata": body.get("metadata", {}), "transient_metadata": {"enabled": True},
                            **{key: body[key] for key in ("description", "global", "remote_indices",
                                                          "remote_cluster") if body.get(key)}}
        return 200, {"role": {"created": created}}

    def spec_members(self, enum: tuple[str, str]) -> set[str]:
        return {member["name"] for member in self.spec.types[enum]["members"]}

    def _get_role(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.roles, params.get("name"))
        if names is None:
            return 404, {}
        return 200, {name: self.roles[name] for name in names}

    def _delete_role(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        if self.roles.pop(params["name"], None) is None:
            return 404, {"found": False}
        return 200, {"found": True}

    def _put_user(self, params: dict, _query: dict, body: dict) -> tuple[int, Any]:
        name = params["username"]
        if "username" in body and body["username"] != name:
            raise bad_request("illegal_argument_exception", f"username in the body [{body['username']}] does not "
                              f"match the username in the path [{name}]")
        created = name not in self.users
        password = body.get("password")
        if created and password is None and "password_hash" not in body:
            raise bad_request("action_request_validation_exception", "Validation Failed: 1: password must be "
                              "specified unless you are updating an existing user;")
        if password is not None and len(password) < 6:
            raise bad_request("action_request_validation_exception",
                              "Validation Failed: 1: passwords must be at least [6] characters long;")
        if "roles" not in body:
            raise bad_request("action_request_validation_exception", "Validation Failed: 1: roles are missing;")
        previous = self.users.get(name, {})
        self.users[name] = {"username": name, "roles": body["roles"], "full_name": body.get("full_name"),
                            "email": body.get("email"), "metadata": body.get("metadata", {}),
                            "enabled": body.get("enabled", True),
                            "_password": password if password is not None else previous.get("_password")}
        return 200, {"created": created}

    def _get_user(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.users, params.get("username"))
        if names is None:
            return 404, {}
        return 200, {name: {key: value for key, value in self.users[name].items() if not key.startswith("_")}
                     for name in names}

    def _delete_user(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        if self.users.pop(params["username"], None) is None:
            return 404, {"found": False}
        return 200, {"found": True}


    # ---- snapshot repositories ----------------------------------------------------------------------

    def _put_repository(self, params: dict, query: dict, body: dict) -> tuple[int, Any]:
        name = params["repository"]
        if body["type"] != "s3":
            raise bad_request("repository_exception", f"[{name}] repository type [{body['type']}] does not exist")
        settings = {key: str(value).lower() if isinstance(value, bool) else str(value)
                    for key, value in body["settings"].items()}
        if settings.get("base_path", "").startswith("/"):
            raise bad_request("illegal_argument_exception", "base_path must not start with a /")
        verify = query.get("verify", ["true"])[-1] != "false"
        if verify and settings["bucket"] in self.unreachable_buckets:
            raise ApiFailureError(500, "repository_verification_exception",
                                  f"[{name}] path [{settings.get('base_path', '')}] is not accessible on master node")
        previous = self.repositories.get(name)
        uuid = previous["uuid"] if previous else f"repository-uuid-{len(self.repositories) + 1}"
        self.repositories[name] = {"type": body["type"], "uuid": uuid, "settings": settings}
        self.snapshots.setdefault(name, {})
        return 200, {"acknowledged": True}

    def _get_repository(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.repositories, params.get("repository"))
        if names is None:
            raise ApiFailureError(404, "repository_missing_exception", f"[{params['repository']}] missing")
        return 200, {name: self.repositories[name] for name in names}

    def _delete_repository(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        name = params["repository"]
        if name not in self.repositories:
            raise ApiFailureError(404, "repository_missing_exception", f"[{name}] missing")
        if any(policy["policy"]["repository"] == name for policy in self.slm_policies.values()):
            raise bad_request("illegal_argument_exception", f"Cannot delete repository [{name}] because it is used "
                              "by snapshot lifecycle policies")
        del self.repositories[name]  # the snapshots stay in the bucket
        return 200, {"acknowledged": True}

    # ---- snapshot lifecycle (SLM) -------------------------------------------------------------------

    def _put_slm(self, params: dict, _query: dict, body: dict) -> tuple[int, Any]:
        policy_id = params["policy_id"]
        for required in ("schedule", "name", "repository"):
            if required not in body:
                raise bad_request("action_request_validation_exception",
                                  f"Validation Failed: 1: invalid {required}: it must be specified;")
        if body["repository"] not in self.repositories:
            raise bad_request("illegal_argument_exception", f"no such repository [{body['repository']}]")
        if not CRON.match(body["schedule"]):
            raise bad_request("action_request_validation_exception",
                              f"Validation Failed: 1: invalid schedule: {body['schedule']};")
        if _resolve_date_math(body["name"], EPOCH_MILLIS) != _resolve_date_math(body["name"], EPOCH_MILLIS).lower():
            raise bad_request("action_request_validation_exception",
                              "Validation Failed: 1: invalid snapshot name: must be lowercase;")
        retention = body.get("retention", {})
        if retention:
            if not TIME_VALUE.match(str(retention["expire_after"])):
                raise bad_request("illegal_argument_exception", f"failed to parse setting [expire_after] with value "
                                  f"[{retention['expire_after']}] as a time value")
            if retention["min_count"] < 1 or retention["max_count"] < 1 or \
                    retention["min_count"] > retention["max_count"]:
                raise bad_request("action_request_validation_exception", "Validation Failed: 1: minimum snapshot "
                                  "count must be at least 1 and not larger than the maximum snapshot count;")
        previous = self.slm_policies.get(policy_id)
        now = self.now_millis()
        self.slm_policies[policy_id] = {
            "version": previous["version"] + 1 if previous else 1,
            "modified_date_millis": now,
            "policy": {key: body[key] for key in ("name", "schedule", "repository", "config", "retention")
                       if key in body},
            "next_execution_millis": now + 86_400_000,
            **{key: previous[key] for key in ("last_success", "last_failure") if previous and key in previous},
            "stats": previous["stats"] if previous else {"policy": policy_id, "snapshots_taken": 0,
                                                         "snapshots_failed": 0, "snapshots_deleted": 0,
                                                         "snapshot_deletion_failures": 0},
        }
        return 200, {"acknowledged": True}

    def _get_slm(self, params: dict, query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.slm_policies, params.get("policy_id"))
        if names is None:
            raise ApiFailureError(404, "resource_not_found_exception",
                                  f"snapshot lifecycle policy or policies {params['policy_id'].split(',')} not found, "
                                  "no policies are configured")
        human = _flag(query, "human")
        answer = {}
        for name in names:
            stored = dict(self.slm_policies[name])
            if human:
                stored["modified_date"] = _iso(stored["modified_date_millis"])
                stored["next_execution"] = _iso(stored["next_execution_millis"])
            answer[name] = stored
        return 200, answer

    def _delete_slm(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        if self.slm_policies.pop(params["policy_id"], None) is None:
            raise ApiFailureError(404, "resource_not_found_exception",
                                  f"snapshot lifecycle policy not found: {params['policy_id']}")
        return 200, {"acknowledged": True}

    def _execute_slm(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        policy_id = params["policy_id"]
        stored = self.slm_policies.get(policy_id)
        if stored is None:
            raise ApiFailureError(404, "resource_not_found_exception",
                                  f"no such snapshot lifecycle policy [{policy_id}]")
        policy = stored["policy"]
        now = self.now_millis()
        name = f"{_resolve_date_math(policy['name'], now)}-{self.ticks:022d}"
        config = policy.get("config", {})
        patterns = config.get("indices", ["*"])
        patterns = patterns.split(",") if isinstance(patterns, str) else patterns
        chosen = sorted(index for index, held in self.indices.items() if held["state"] == "open"
                        and any(fnmatch.fnmatchcase(index, pattern) for pattern in patterns))
        if self.repositories[policy["repository"]]["settings"].get("readonly") == "true":
            # The server answers the name and fails the snapshot before it starts: no snapshot, a failure recorded.
            stored["last_failure"] = {"snapshot_name": name, "time": now}
            stored["stats"]["snapshots_failed"] += 1
            self.failures.append(f"[{policy['repository']}] cannot create snapshot in a readonly repository")
            return 200, {"snapshot_name": name}
        self._take_snapshot(policy["repository"], name, chosen, now, {**config.get("metadata", {}),
                                                                     "policy": policy_id})
        stored["last_success"] = {"snapshot_name": name, "time": now}
        stored["stats"]["snapshots_taken"] += 1
        return 200, {"snapshot_name": name}

    def _take_snapshot(self, repository: str, name: str, indices: list[str], now: int, metadata: dict) -> None:
        self.snapshots.setdefault(repository, {})[name] = {
            "indices": {index: copy.deepcopy(self.indices[index]) for index in indices},
            "info": {"snapshot": name, "uuid": f"snapshot-uuid-{self.ticks}", "repository": repository,
                     "version_id": 9_050_099, "version": self.version, "indices": indices, "data_streams": [],
                     "include_global_state": False, "metadata": metadata, "state": "SUCCESS",
                     "start_time": _iso(now), "start_time_in_millis": now, "end_time": _iso(now + 1000),
                     "end_time_in_millis": now + 1000, "duration_in_millis": 1000, "failures": [],
                     "shards": {"total": len(indices), "failed": 0, "successful": len(indices)},
                     "feature_states": []},
        }

    # ---- snapshots and restore ----------------------------------------------------------------------

    def _get_snapshots(self, params: dict, query: dict, _body: Any) -> tuple[int, Any]:
        repository = params["repository"]
        if repository not in self.repositories:
            raise ApiFailureError(404, "repository_missing_exception", f"[{repository}] missing")
        held = self.snapshots.get(repository, {})
        wanted = "*" if params["snapshot"] == "_all" else params["snapshot"]
        names = _select(held, wanted)
        if names is None:
            raise ApiFailureError(404, "snapshot_missing_exception", f"[{repository}:{params['snapshot']}] is missing")
        infos = sorted((held[name]["info"] for name in names), key=lambda info: info["start_time_in_millis"])
        policy = query.get("slm_policy_filter", [None])[-1]
        if policy is not None:
            infos = [info for info in infos if fnmatch.fnmatchcase(info["metadata"].get("policy", ""), policy)]
        if query.get("order", ["asc"])[-1] == "desc":
            infos.reverse()
        return 200, {"snapshots": infos, "total": len(infos), "remaining": 0}

    def _restore(self, params: dict, query: dict, body: Any) -> tuple[int, Any]:
        repository, name = params["repository"], params["snapshot"]
        if repository not in self.repositories:
            raise ApiFailureError(404, "repository_missing_exception", f"[{repository}] missing")
        taken = self.snapshots.get(repository, {}).get(name)
        if taken is None:
            raise ApiFailureError(404, "snapshot_missing_exception", f"[{repository}:{name}] is missing")
        body = body or {}
        if body.get("include_global_state"):
            raise bad_request("illegal_argument_exception", "the snapshot holds no global state")
        patterns = body.get("indices", ["*"])
        patterns = patterns.split(",") if isinstance(patterns, str) else patterns
        chosen = [index for index in sorted(taken["indices"])
                  if any(fnmatch.fnmatchcase(index, pattern) for pattern in patterns)]
        missing = [pattern for pattern in patterns if "*" not in pattern and pattern not in taken["indices"]]
        if missing and not body.get("ignore_unavailable"):
            raise ApiFailureError(404, "index_not_found_exception", f"no such index [{missing[0]}]")
        targets = {}
        for index in chosen:
            target = index
            if "rename_pattern" in body:
                replacement = re.sub(r"\$(\d+)", r"\\\1", body.get("rename_replacement", ""))
                target = re.sub(body["rename_pattern"], replacement, index)
            existing = self.indices.get(target)
            if existing is not None and existing["state"] == "open":
                where = f"[{repository}:{name}/{taken['info']['uuid']}]"
                raise ApiFailureError(500, "snapshot_restore_exception", f"{where}"
                                      f" cannot restore index [{target}] because an open index with same name already "
                                      "exists in the cluster. Either close or delete the existing index or restore the "
                                      "index under a different name by providing a rename pattern and replacement name")
            targets[index] = target
        ignored = set(body.get("ignore_index_settings", []))
        for index, target in targets.items():
            settings = {key: value for key, value in taken["indices"][index]["settings"].items()
                        if key not in ignored}
            settings.update(_flat_settings(body.get("index_settings", {})))
            self.indices[target] = {"state": "open", "settings": settings}
        restored = sorted(targets.values())
        if not _flag(query, "wait_for_completion"):
            return 200, {"accepted": True}
        return 200, {"snapshot": {"snapshot": name, "indices": restored,
                                  "shards": {"total": len(restored), "failed": 0, "successful": len(restored)}}}

    # ---- indices --------------------------------------------------------------------------------------

    def _close_index(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.indices, params["index"])
        if names is None:
            raise ApiFailureError(404, "index_not_found_exception", f"no such index [{params['index']}]")
        for name in names:
            self.indices[name]["state"] = "close"
        return 200, {"acknowledged": True, "shards_acknowledged": True,
                     "indices": {name: {"closed": True} for name in names}}

    def _open_index(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        names = _select(self.indices, params["index"])
        if names is None:
            raise ApiFailureError(404, "index_not_found_exception", f"no such index [{params['index']}]")
        for name in names:
            self.indices[name]["state"] = "open"
        return 200, {"acknowledged": True, "shards_acknowledged": True}

    def _index_exists(self, params: dict, _query: dict, _body: Any) -> tuple[int, Any]:
        return (200 if _select(self.indices, params["index"]) else 404), None


Handler = Callable[[FakeElasticsearch, dict, dict, Any], tuple[int, Any]]
# The endpoints the fake models, by the specification's endpoint name.
HANDLERS: dict[str, Handler] = {
    "info": FakeElasticsearch._info,
    "ping": FakeElasticsearch._ping,
    "indices.put_index_template": FakeElasticsearch._put_template,
    "indices.get_index_template": FakeElasticsearch._get_template,
    "indices.delete_index_template": FakeElasticsearch._delete_template,
    "ilm.put_lifecycle": FakeElasticsearch._put_policy,
    "ilm.get_lifecycle": FakeElasticsearch._get_policy,
    "ilm.delete_lifecycle": FakeElasticsearch._delete_policy,
    "security.put_role": FakeElasticsearch._put_role,
    "security.get_role": FakeElasticsearch._get_role,
    "security.delete_role": FakeElasticsearch._delete_role,
    "security.put_user": FakeElasticsearch._put_user,
    "security.get_user": FakeElasticsearch._get_user,
    "security.delete_user": FakeElasticsearch._delete_user,
    "snapshot.create_repository": FakeElasticsearch._put_repository,
    "snapshot.get_repository": FakeElasticsearch._get_repository,
    "snapshot.delete_repository": FakeElasticsearch._delete_repository,
    "slm.put_lifecycle": FakeElasticsearch._put_slm,
    "slm.get_lifecycle": FakeElasticsearch._get_slm,
    "slm.delete_lifecycle": FakeElasticsearch._delete_slm,
    "slm.execute_lifecycle": FakeElasticsearch._execute_slm,
    "snapshot.get": FakeElasticsearch._get_snapshots,
    "snapshot.restore": FakeElasticsearch._restore,
    "indices.close": FakeElasticsearch._close_index,
    "indices.open": FakeElasticsearch._open_index,
    "indices.exists": FakeElasticsearch._index_exists,
}


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return any(value in ("", "true") for value in query.get(name, []))


def _select(store: dict[str, Any], names: str | None) -> list[str] | None:
    """The stored names a (comma-separated, wildcard) name selects, sorted; None when a plain name is missing."""
    if names is None:
        return sorted(store)
    selected: list[str] = []
    for name in names.split(","):
        if "*" in name:
            selected += [stored for stored in sorted(store) if fnmatch.fnmatchcase(stored, name)]
        elif name in store:
            selected.append(name)
        else:
            return None
    return selected


def _resolve_date_math(name: str, millis: int) -> str:
    """A snapshot name's date math as the server resolves it: `<prefix-{now/d}>` -> `prefix-2026.01.01`."""
    if not (name.startswith("<") and name.endswith(">")):
        return name
    day = time.strftime("%Y.%m.%d", time.gmtime(millis // 1000))
    return re.sub(r"\{now/d\}", day, name[1:-1])


def _iso(millis: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def _with_dates(template: dict, human: bool) -> dict:
    if not human:
        return template
    return {**template, "created_date": _iso(template["created_date_millis"]),
            "modified_date": _iso(template["modified_date_millis"])}


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
            status, body = fake.answer(self.command, self.path, headers, raw,
                                       fault.status if fault and fault.kind == "status" else None)
            payload = b"" if body is None else json.dumps(body).encode()
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

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _serve  # noqa: N815 (http.server's names)

    return Handler
