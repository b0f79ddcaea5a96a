"""A small validator over the compiled Elasticsearch specification (`vendor-specs/elasticsearch/schema-9.5.json`).

The compiled model (elastic/elasticsearch-specification, `compiler/`) lists every endpoint (`urls` with methods and
path patterns, request and response type names) and every type (`interface`, `request`, `response`, `enum`,
`type_alias`). This module answers, for a method and a path, which endpoint it is, and whether a request (path
parameters, query parameters, body) and a response (status, body) fit that endpoint's types:

    model = SpecModel.load()
    endpoint, params = model.route("PUT", "/_index_template/airbyte-logs")
    model.request_problems(endpoint, params, {"create": ["true"]}, body)   # [] when it fits
    model.response_problems(endpoint, 200, answer)

What it checks:
- the endpoint exists for the method and path (the pattern with the most literal segments wins, as the server's
  router prefers `/_index_template/{name}` to `/{index}/{type}`); a path no endpoint declares, or a method the
  path does not have, is a problem;
- query parameters: each must be one the request declares or one of the common ones (`CommonQueryParameters`:
  `error_trace`, `filter_path`, `human`, `pretty`), with a value of the declared kind (booleans `true`/`false`,
  numbers, enum members, comma-separated lists for arrays);
- bodies: a body where the request has none (`no_body`) or none where `requestBodyRequired` says one is needed;
  required properties; unknown properties where the type is closed (an interface without an
  `AdditionalProperties`/`AdditionalProperty` behaviour), through `inherits` (with generics), type aliases
  (with generics: `EpochTime<UnitMillis>`, `Stringified<T>`), unions (one member must fit), enums (open enums
  take any string; enums whose members are `true`/`false` take JSON booleans, the spec's `esQuirk`), literal
  values, arrays, dictionaries (`singleKey` ones exactly one key), user-defined values (anything), internally
  tagged unions (the member chosen by its tag, `type` for mapping properties, `defaultTag` when absent),
  containers (exactly one variant key besides the container properties), the JSON kind of every value
  (`integer`/`long`/... must be whole numbers) and `null` only where the type allows it; property aliases and
  `shortcutProperty` forms are accepted;
- responses: the same, against the endpoint's response type for a 2xx; an error answer must be the spec's
  `ErrorResponseBase`, an exception body the response declares for that status, or, for the security get and
  delete endpoints, their own response shape (they answer a miss 404 with `{}` and `{"found": false}`).

Deliberate departures from the letter of the spec, each because the 9.x server behaves so:
- index settings (`indices._types.IndexSettings` and everything under it) take a boolean or a number in its string
  form, in both directions: the server keeps settings as strings, accepts `"true"` or `"1"` on write and answers
  every setting as a string, although the spec types some of them `boolean` or `integer` (others it marks
  `Stringified`);
- `SERVER_FIELDS_OUTSIDE_SPEC` lists the response fields a 9.x server sends that the 9.5 specification does not
  declare (for example `in_use_by` in a lifecycle policy answer); they are allowed and their contents unchecked.

What it does not check (be aware of these when a test passes):
- anything the specification does not express: which index settings exist (`IndexSettings` is open), mapping
  types outside the union (`Property` is non-exhaustive, so an unknown `type` is not a problem here), which
  ILM actions a phase allows, privilege names (the privilege enums are open), value ranges, string formats
  (durations, dates, index name rules), and cross-field rules. The fake server checks the ones the platform
  relies on itself;
- externally tagged unions (`type#name` keys, aggregation answers) are accepted without looking inside; untagged
  unions are checked as plain unions;
- headers and media types (the fake checks compatibility headers itself), and path parameter formats beyond
  their kind.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

SPEC_FILE = "elasticsearch/schema-9.5.json"

# Type names are (namespace, name) pairs, as the compiled model spells them.
TypeName = tuple[str, str]

INTEGRAL = {("_types", name) for name in ("integer", "long", "short", "byte", "uint", "ulong")}
SETTINGS = ("indices._types", "IndexSettings")
# Types whose values the server keeps and answers as strings (see "Deliberate departures" above).
STRINGLY_TYPES = {SETTINGS, *(("snapshot._types", f"{kind}RepositorySettings")
                              for kind in ("S3", "Azure", "Gcs", "SharedFileSystem", "ReadOnlyUrl", "SourceOnly"))}
ERROR_RESPONSE = ("_types", "ErrorResponseBase")
COMMON_QUERY = ("_spec_utils", "CommonQueryParameters")
# Response fields a 9.x server sends that the 9.5 specification's response types lack: (type, property).
SERVER_FIELDS_OUTSIDE_SPEC: dict[TypeName, set[str]] = {
    # GetLifecycleAction's answer carries the indices, data streams and composable templates using the policy.
    ("ilm.get_lifecycle", "Lifecycle"): {"in_use_by"},
}
# Endpoints that answer "not found" with their own response shape instead of an error body.
MISS_IN_OWN_SHAPE = {"security.get_role", "security.get_user", "security.delete_role", "security.delete_user"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    request: TypeName
    response: TypeName
    body_required: bool
    urls: tuple[tuple[str, frozenset[str]], ...]


@dataclass(frozen=True)
class _Mode:
    """How a value is read: `request` refuses unknown fields as the server's parsers do, `response` allows the
    listed server extras; `stringly` admits string forms of booleans and numbers (settings, query strings);
    `query` also takes comma-separated lists for arrays."""

    response: bool = False
    stringly: bool = False
    query: bool = False


def _type_name(ref: dict) -> TypeName:
    return ref["namespace"], ref["name"]


class SpecModel:
    """The compiled specification with lookups and the checks described in the module docstring."""

    def __init__(self, compiled: dict[str, Any]) -> None:
        self.types: dict[TypeName, dict] = {_type_name(t["name"]): t for t in compiled["types"]}
        self.endpoints: dict[str, Endpoint] = {}
        self._routes: list[tuple[int, re.Pattern[str], list[str], frozenset[str], Endpoint]] = []
        for raw in compiled["endpoints"]:
            urls = tuple((url["path"], frozenset(url["methods"])) for url in raw["urls"])
            endpoint = Endpoint(raw["name"], _type_name(raw["request"]), _type_name(raw["response"]),
                                bool(raw.get("requestBodyRequired")), urls)
            self.endpoints[endpoint.name] = endpoint
            for path, methods in urls:
                segments = [segment for segment in path.split("/") if segment]
                names = [segment[1:-1] for segment in segments if segment.startswith("{")]
                pattern = "/" + "/".join("([^/]+)" if s.startswith("{") else re.escape(s) for s in segments)
                literals = sum(1 for segment in segments if not segment.startswith("{"))
                self._routes.append((literals, re.compile(f"^{pattern}/?$"), names, methods, endpoint))
        self._routes.sort(key=lambda route: -route[0])
        self._generic_owners = {f"{t['name']['namespace']}.{t['name']['name']}" for t in compiled["types"]
                                if t.get("generics")}

    @classmethod
    def load(cls) -> SpecModel:
        """The model from `vendor-specs` (the test skips, or fails under CI, when it is missing)."""
        from tests.support.vendor_specs import vendor_spec

        global _MODEL
        if _MODEL is None:
            _MODEL = cls(vendor_spec(SPEC_FILE))
        return _MODEL

    # ---- routing ----------------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint a method and path call, with the path parameters; None when no endpoint declares them."""
        for _literals, pattern, names, methods, endpoint in self._routes:
            match = pattern.match(path)
            if match and method in methods:
                return endpoint, {name: unquote(value) for name, value in zip(names, match.groups(), strict=True)}
        return None

    def methods_for(self, path: str) -> set[str]:
        """Every method some endpoint declares for this path (for a 405's `allowed` list)."""
        matching = [(literals, methods) for literals, pattern, _names, methods, _endpoint in self._routes
                     if pattern.match(path)]
        best = max((literals for literals, _methods in matching), default=0)
        return {method for literals, methods in matching if literals == best for method in methods}

    # ---- requests and responses -------------------------------------------------------------------

    def request_problems(self, endpoint: Endpoint, params: dict[str, str], query: dict[str, list[str]],
                         body: Any, has_body: bool | None = None) -> list[str]:
        request = self.types[endpoint.request]
        problems: list[str] = []
        declared = {p["name"]: p for p in request.get("path", [])}
        for name, value in params.items():
            if name not in declared:
                problems.append(f"path: parameter [{name}] is not declared by {endpoint.name}")
            else:
                problems += self._check(value, declared[name]["type"], f"path.{name}", {}, _Mode(stringly=True,
                                                                                               query=True))
        allowed = {p["name"]: p for p in request.get("query", [])}
        allowed.update({p["name"]: p for p in self.types[COMMON_QUERY]["properties"]})
        for name, values in query.items():
            if name not in allowed:
                problems.append(f"query: unknown parameter [{name}] for {endpoint.name}")
                continue
            for value in values:
                problems += self._check(value, allowed[name]["type"], f"query.{name}", {},
                                        _Mode(stringly=True, query=True))
        has_body = body is not None if has_body is None else has_body
        spec_body = request["body"]
        if spec_body["kind"] == "no_body":
            if has_body:
                problems.append(f"body: {endpoint.name} takes no body")
        elif not has_body:
            if endpoint.body_required:
                problems.append(f"body: {endpoint.name} requires a body")
        else:
            problems += self._check_body(spec_body, body, endpoint.request, _Mode())
        return problems

    def response_problems(self, endpoint: Endpoint, status: int, body: Any) -> list[str]:
        response = self.types[endpoint.response]
        mode = _Mode(response=True)
        if 200 <= status < 300:
            return self._check_body(response["body"], body, endpoint.response, mode)
        candidates = [exception["body"] for exception in response.get("exceptions", [])
                      if status in exception.get("statusCodes", [])]
        candidates.append({"kind": "value", "value": {"kind": "instance_of", "type": {
            "namespace": ERROR_RESPONSE[0], "name": ERROR_RESPONSE[1]}}})
        if status == 404 and endpoint.name in MISS_IN_OWN_SHAPE:
            candidates.append(response["body"])
        results = [self._check_body(candidate, body, endpoint.response, mode) for candidate in candidates]
        return [] if any(not result for result in results) else min(results, key=len)

    def body_properties(self, type_name: TypeName) -> set[str]:
        """The property names of a request's or response's `properties` body, or of an interface (with parents)."""
        declared = self.types[type_name]
        if declared["kind"] in ("request", "response"):
            return {p["name"] for p in declared["body"].get("properties", [])}
        return set(self._interface(type_name, {})[0])

    # ---- the checks -------------------------------------------------------------------------------

    def _check_body(self, spec_body: dict, body: Any, owner: TypeName, mode: _Mode) -> list[str]:
        kind = spec_body["kind"]
        if kind == "no_body":
            return [] if body in (None, b"", "") else ["body: expected no body"]
        if kind == "value":
            return self._check(body, spec_body["value"], "body", {}, mode)
        properties = {p["name"]: p for p in spec_body["properties"]}
        return self._check_object(body, properties, None, "body", {}, mode, owner)

    def _check(self, value: Any, ref: dict, where: str, env: dict[TypeName, tuple[dict, dict]],
               mode: _Mode) -> list[str]:
        kind = ref["kind"]
        if kind == "user_defined_value":
            return []
        if kind == "literal_value":
            expected = ref["value"]
            if value == expected or (mode.stringly and isinstance(value, str) and value == str(expected)):
                return []
            return [f"{where}: expected {expected!r}, got {value!r}"]
        if kind == "array_of":
            if mode.query and isinstance(value, str):
                return [p for i, item in enumerate(value.split(","))
                        for p in self._check(item, ref["value"], f"{where}[{i}]", env, mode)]
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {_kind(value)}"]
            return [p for i, item in enumerate(value) for p in self._check(item, ref["value"], f"{where}[{i}]", env,
                                                                            mode)]
        if kind == "dictionary_of":
            if not isinstance(value, dict):
                return [f"{where}: expected an object, got {_kind(value)}"]
            problems = []
            if ref.get("singleKey") and len(value) != 1:
                problems.append(f"{where}: expected exactly one key, got {len(value)}")
            for key, item in value.items():
                problems += self._check(item, ref["value"], f"{where}.{key}", env, mode)
            return problems
        if kind == "union_of":
            return self._check_union(value, ref["items"], where, env, mode)
        if kind == "instance_of":
            return self._check_instance(value, ref, where, env, mode)
        raise ValueError(f"unknown type kind {kind!r} at {where}")

    def _check_union(self, value: Any, items: list[dict], where: str, env: dict, mode: _Mode) -> list[str]:
        results = []
        for item in items:
            problems = self._check(value, item, where, env, mode)
            if not problems:
                return []
            results.append(problems)
        return min(results, key=len)

    def _check_instance(self, value: Any, ref: dict, where: str, env: dict, mode: _Mode) -> list[str]:
        name = _type_name(ref["type"])
        if name in env:  # a generic parameter, bound where the generic type was used
            bound, outer = env[name]
            return self._check(value, bound, where, outer, mode)
        if name[0] == "_builtins":
            return _check_builtin(value, name[1], where, mode)
        if name in INTEGRAL and not _whole(value, mode):
            return [f"{where}: expected a whole number, got {value!r}"]
        if name in STRINGLY_TYPES and not mode.stringly:
            mode = _Mode(response=mode.response, stringly=True)
        declared = self.types.get(name)
        if declared is None and name[0] in self._generic_owners:
            return []  # a generic parameter left unbound (a document type): any value
        if declared is None:
            raise ValueError(f"{where}: type {name} is not in the specification")
        bindings = {(p["namespace"], p["name"]): (arg, env)
                    for p, arg in zip(declared.get("generics", []), ref.get("generics", []), strict=False)}
        kind = declared["kind"]
        if kind == "type_alias":
            variants = declared.get("variants", {})
            if variants.get("kind") == "internal_tag":
                return self._check_tagged(value, declared, where, bindings, mode)
            if variants.get("kind") == "external_tag":
                return [] if isinstance(value, dict) else [f"{where}: expected an object, got {_kind(value)}"]
            return self._check(value, declared["type"], where, bindings, mode)
        if kind == "enum":
            return _check_enum(value, declared, where, mode)
        if kind == "interface":
            return self._check_interface(value, name, bindings, where, mode)
        raise ValueError(f"{where}: cannot check a value against {kind} {name}")

    def _check_tagged(self, value: Any, declared: dict, where: str, env: dict, mode: _Mode) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_kind(value)}"]
        variants = declared["variants"]
        tag = value.get(variants["tag"], variants.get("defaultTag"))
        members = self._tags(_type_name(declared["name"]))
        if tag not in members:
            if variants.get("nonExhaustive"):
                return []  # a variant the specification does not list: nothing to check against
            return [f"{where}: unknown {variants['tag']} [{tag}]"]
        candidate = dict(value)
        candidate.setdefault(variants["tag"], tag)
        return self._check(candidate, members[tag], where, env, mode)

    @functools.cache  # noqa: B019 (one model per process; the cache lives as long as it)
    def _tags(self, name: TypeName) -> dict[str, dict]:
        """An internally tagged union's members by the literal value of their tag property."""
        declared = self.types[name]
        tag = declared["variants"]["tag"]
        members = {}
        for item in declared["type"]["items"]:
            prop = self._interface(_type_name(item["type"]), {})[0].get(tag)
            if prop is not None and prop["type"]["kind"] == "literal_value":
                members[prop["type"]["value"]] = item
        return members

    def _interface(self, name: TypeName, env: dict) -> tuple[dict[str, dict], dict | None, dict]:
        """Properties of an interface and its parents (name -> property, with its binding environment), the value
        type of its additional properties (None when closed), and its declaration."""
        declared = self.types[name]
        properties: dict[str, dict] = {}
        extra: dict | None = None
        parent = declared.get("inherits")
        if parent:
            parent_name = _type_name(parent["type"])
            parent_decl = self.types[parent_name]
            parent_env = {(p["namespace"], p["name"]): (arg, env)
                          for p, arg in zip(parent_decl.get("generics", []), parent.get("generics", []),
                                            strict=False)}
            properties, extra, _ = self._interface(parent_name, parent_env)
        for prop in declared.get("properties", []):
            properties[prop["name"]] = {**prop, "_env": env}
        for behavior in declared.get("behaviors", []):
            if behavior["type"]["name"] in ("AdditionalProperties", "AdditionalProperty"):
                extra = {**behavior["generics"][1], "_env": env}
        return properties, extra, declared

    def _check_interface(self, value: Any, name: TypeName, env: dict, where: str, mode: _Mode) -> list[str]:
        properties, extra, declared = self._interface(name, env)
        if not isinstance(value, dict):
            shortcut = declared.get("shortcutProperty")
            if shortcut and shortcut in properties:
                prop = properties[shortcut]
                return self._check(value, prop["type"], where, prop["_env"], mode)
            return [f"{where}: expected an object ({name[0]}.{name[1]}), got {_kind(value)}"]
        if declared.get("variants", {}).get("kind") == "container":
            variant_keys = [key for key, prop in properties.items() if not prop.get("containerProperty")]
            present = [key for key in value if key in variant_keys or (
                extra is not None and not properties.get(key, {}).get("containerProperty"))]
            if len(present) != 1 and not declared["variants"].get("nonExhaustive"):
                return [f"{where}: expected exactly one of {sorted(variant_keys)}, got {sorted(present)}"]
            properties = {key: prop for key, prop in properties.items() if key in present or prop.get(
                "containerProperty")}
            return self._check_object(value, properties, extra, where, env, mode, name, required=False)
        return self._check_object(value, properties, extra, where, env, mode, name)

    def _check_object(self, value: Any, properties: dict[str, dict], extra: dict | None, where: str, env: dict,
                      mode: _Mode, owner: TypeName, required: bool = True) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_kind(value)}"]
        by_name = dict(properties)
        for prop in properties.values():
            for alias in prop.get("aliases", []):
                by_name[alias] = prop
        problems = []
        if required:
            for prop in properties.values():
                if prop.get("required") and prop["name"] not in value and not any(
                        alias in value for alias in prop.get("aliases", [])):
                    problems.append(f"{where}: required field [{prop['name']}] is missing")
        tolerated = SERVER_FIELDS_OUTSIDE_SPEC.get(owner, set()) if mode.response else set()
        for key, item in value.items():
            prop = by_name.get(key)
            if prop is not None:
                problems += self._check(item, prop["type"], f"{where}.{key}", prop.get("_env", env), mode)
            elif extra is not None:
                problems += self._check(item, extra, f"{where}.{key}", extra.get("_env", env), mode)
            elif key not in tolerated:
                problems.append(f"{where}: unknown field [{key}]")
        return problems


_MODEL: SpecModel | None = None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _number(value: Any, mode: _Mode) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if mode.stringly and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _whole(value: Any, mode: _Mode) -> bool:
    number = _number(value, mode)
    if number is None:
        return True  # not a number at all: the alias's own check says so
    return number.is_integer()


def _check_builtin(value: Any, name: str, where: str, mode: _Mode) -> list[str]:
    if name == "string":
        ok = isinstance(value, str)
    elif name == "boolean":
        ok = isinstance(value, bool) or (mode.stringly and value in ("true", "false", ""))
    elif name == "number":
        ok = _number(value, mode) is not None
    elif name in ("null", "void"):
        ok = value is None
    elif name == "binary":
        ok = True
    else:
        raise ValueError(f"{where}: unknown builtin {name}")
    return [] if ok else [f"{where}: expected {name}, got {_kind(value)} {value!r}"]


def _check_enum(value: Any, declared: dict, where: str, mode: _Mode) -> list[str]:
    members = set()
    for member in declared["members"]:
        members.add(member["name"])
        members.update(member.get("aliases", []))
    if isinstance(value, bool) and {"true", "false"} <= members:
        return []  # a boolean that became an enum: the server reads JSON booleans too (the spec's esQuirk)
    if isinstance(value, str) and (value in members or declared.get("isOpen")):
        return []
    name = f"{declared['name']['namespace']}.{declared['name']['name']}"
    return [f"{where}: {value!r} is not one of {name} {sorted(members)}"]
