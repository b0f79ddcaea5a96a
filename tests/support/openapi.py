"""An OpenAPI 3.0 document as a judge of requests and responses, for the fakes that stand in for a vendor's server.

    api = OpenApi.load("airbyte/2.1.0/public-api.yaml", prefix="/api/public/v1")
    operation, params = api.operation("PATCH", "/api/public/v1/workspaces/1b6d...")   # Reject(404/405) if undefined
    api.check_request(operation, params, query, "application/json", body)            # Reject(400) naming the field
    api.check_response(operation, 200, "application/json", answer)                   # AssertionError: a fake's bug

Schemas are JSON Schema (draft 4 style, as OpenAPI 3.0 uses them) with `$ref` resolved inside the document and
`nullable: true` turned into a type that admits null. Request bodies are judged with formats (`uuid`); responses are
judged without them, since the documents spell formats the servers do not follow (`format: UUID`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jsonschema
import referencing
import yaml

from tests.support.vendor_specs import vendor_spec_path

DOCUMENT_URI = "urn:openapi"


class Reject(Exception):  # noqa: N818 (an answer, not a failure)
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema: the type (or the enum) also admits null."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        if "type" in converted:
            kinds = converted["type"] if isinstance(converted["type"], list) else [converted["type"]]
            converted["type"] = [*kinds, "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
        if "$ref" in converted or "allOf" in converted or "oneOf" in converted:
            converted = {"anyOf": [{"type": "null"}, converted]}
    return converted


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    definition: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        return str(self.definition.get("operationId") or f"{self.method} {self.template}")


class OpenApi:
    def __init__(self, document: dict[str, Any], prefix: str = "") -> None:
        self.document = _nullable(document)
        self.prefix = prefix
        resource = referencing.Resource.from_contents(self.document, referencing.jsonschema.DRAFT4)
        self.registry = referencing.Registry().with_resource(DOCUMENT_URI, resource)

    @classmethod
    def load(cls, relative: str, prefix: str = "") -> OpenApi:
        """The document at `vendor-specs/<relative>` (skips, or fails under CI, when it is missing)."""
        return cls(yaml.safe_load(vendor_spec_path(relative).read_text()), prefix)

    @cached_property
    def _routes(self) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
        routes = []
        for template, item in self.document["paths"].items():
            pattern = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            routes.append((re.compile(f"^{pattern}$"), template, item))
        # A literal segment wins over a parameter (`/applications/token` before `/applications/{id}`).
        return sorted(routes, key=lambda route: route[1].count("{"))

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation `method path` names, and its path parameters; Reject(404) or (405) if none."""
        relative = path.removeprefix(self.prefix) or "/"
        for pattern, template, item in self._routes:
            match = pattern.match(relative.rstrip("/") or "/")
            if match is None:
                continue
            definition = item.get(method.lower())
            if definition is None:
                raise Reject(405, f"{method} is not an operation of {template}")
            shared = {(p["name"], p["in"]): p for p in item.get("parameters", [])}
            own = {(p["name"], p["in"]): p for p in definition.get("parameters", [])}
            return Operation(method, template, definition, tuple({**shared, **own}.values())), match.groupdict()
        raise Reject(404, f"no operation at {relative}")

    def _validator(self, schema: dict[str, Any], formats: bool) -> jsonschema.protocols.Validator:
        checker = jsonschema.FormatChecker() if formats else None
        return jsonschema.Draft4Validator(_rebase(schema), registry=self.registry, format_checker=checker)

    def errors(self, schema: dict[str, Any], value: Any, formats: bool = True) -> list[str]:
        """Each way `value` breaks `schema`, as `<path>: <message>` (deepest first)."""
        found = sorted(self._validator(schema, formats).iter_errors(value), key=lambda e: -len(e.absolute_path))
        return [f"{'.'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}" for error in found]

    def check_request(self, operation: Operation, path_params: dict[str, str], query: dict[str, list[str]],
                      content_type: str, body: Any) -> None:
        """Reject(400) a request whose parameters or body the operation does not define."""
        allowed = {p["name"] for p in operation.parameters if p["in"] == "query"}
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise Reject(400, f"{operation.name}: unknown query parameter {', '.join(unknown)}")
        for parameter in operation.parameters:
            where, name = parameter["in"], parameter["name"]
            if where not in ("path", "query"):
                continue
            given = path_params.get(name) if where == "path" else query.get(name)
            if given is None:
                if parameter.get("required"):
                    raise Reject(400, f"{operation.name}: {where} parameter {name} is required")
                continue
            schema = parameter.get("schema", {})
            values = [given] if where == "path" else list(given)
            if schema.get("type") != "array" and len(values) > 1 and where == "query":
                raise Reject(400, f"{operation.name}: query parameter {name} given {len(values)} times")
            for value in values:
                problems = self.errors(schema, _typed(schema, value, self))
                if problems:
                    raise Reject(400, f"{operation.name}: {where} parameter {name}={value!r}: {problems[0]}")
        request = operation.definition.get("requestBody")
        if request is None:
            if body not in (None, b"", ""):
                raise Reject(400, f"{operation.name} takes no body")
            return
        media = request.get("content", {})
        if content_type not in media:
            raise Reject(415, f"{operation.name}: content type {content_type!r} is not one of {sorted(media)}")
        if body is None:
            if request.get("required"):
                raise Reject(400, f"{operation.name}: a body is required")
            return
        problems = self.errors(media[content_type].get("schema", {}), body)
        if problems:
            raise Reject(400, f"{operation.name}: {problems[0]}")

    def check_response(self, operation: Operation, status: int, content_type: str | None, body: Any) -> None:
        """Fail (a bug of the fake, never the client's) when an answer is not one the operation defines."""
        responses = operation.definition.get("responses", {})
        defined = responses.get(str(status)) or responses.get("default")
        if defined is None and status >= 400:
            return  # an error the document does not list (401, 409, 422): servers answer those on any operation
        assert defined is not None, f"{operation.name} defines no {status} answer ({sorted(responses)})"
        media = defined.get("content") or {}
        if not media:
            return  # the document gives no shape (an error answer): any body goes
        assert content_type in media, f"{operation.name} {status}: {content_type!r} is not one of {sorted(media)}"
        problems = self.errors(media[content_type].get("schema", {}), body, formats=False)
        assert not problems, f"{operation.name} {status} answer outside the definition: {problems}"


def _rebase(schema: dict[str, Any]) -> dict[str, Any]:
    """Point the document's local `$ref`s at the registered document."""
    if isinstance(schema, dict):
        return {key: (DOCUMENT_URI + value if key == "$ref" and isinstance(value, str) and value.startswith("#")
                      else _rebase(value)) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema


def _typed(schema: dict[str, Any], value: str, api: OpenApi) -> Any:
    """A path or query string as the type its schema names (`limit=5` an integer)."""
    if "$ref" in schema:
        schema = api.registry.resolver().lookup(DOCUMENT_URI + schema["$ref"]).contents
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind == "array":
        return [_typed(schema.get("items", {}), item, api) for item in value.split(",")]
    return value
