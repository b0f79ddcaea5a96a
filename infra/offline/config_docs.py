"""The README's configuration table, generated from the stack config model.

    python -m infra.offline.config_docs README.md     # rewrite the table between the markers (`make config-docs`)
    python -m infra.offline.config_docs --check README.md    # exit 1, naming the command, when the README has drifted

Every key a stack file can set is read from `StackConfig` and its nested sections at run time: the key path as
written in YAML (camelCase; `<name>` for a map's entries, `[]` for a list's items), the type with its bounds,
the dev and prod defaults (`Pulumi.yaml`'s `config:` defaults, else the stage's defaults merged over the
field's own) and the field's description. A key added to the model shows up here without editing this file.
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from infra.model.config import STAGE_DEFAULTS, StackConfig
from infra.model.stackfiles import REPO_ROOT, load_project

BEGIN = "<!-- config-table:begin (generated from the stack config model by `make config-docs`; do not edit) -->"
END = "<!-- config-table:end -->"
STAGES = ("dev", "prod")
REQUIRED = "required"
UNSET = "unset"
HEADER = ["key", "type", "dev default", "prod default", "meaning"]


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    defaults: tuple[str, ...]
    description: str

    def markdown(self) -> str:
        cells = [f"`{self.key}`", self.type, *self.defaults, self.description]
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def rows(
    model: type[BaseModel] = StackConfig,
    stage_defaults: Mapping[str, Mapping[str, Any]] = STAGE_DEFAULTS,
    project_root: Path = REPO_ROOT,
) -> list[Row]:
    """One row per key of the model, in the model's field order."""
    declared = load_project(project_root).get("config") or {}
    project_defaults = {
        key: spec["default"] for key, spec in declared.items() if isinstance(spec, dict) and "default" in spec
    }
    merged = {stage: {**stage_defaults.get(stage, {}), **project_defaults} for stage in STAGES}
    return list(_rows(model, "", merged))


def _rows(model: type[BaseModel], prefix: str, stage_defaults: Mapping[str, Any] | None) -> Iterator[Row]:
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = field.alias or name
        path = f"{prefix}.{key}" if prefix else key
        given = {stage: (stage_defaults or {}).get(stage, {}) for stage in STAGES} if stage_defaults else None
        annotation, constraints = _unwrap(field)
        nested = {stage: _get(given[stage], key) for stage in STAGES} if given else None
        if _is_model(annotation):
            if _optional(field):
                yield Row(path, "block", _defaults(field, key, given), _describe(field))
            yield from _rows(annotation, path, nested)
            continue
        item = _container_item(annotation)
        if item is not None and _is_model(item[1]):
            kind, item_model = item
            if kind == "map":
                yield Row(path, "map: name -> block", _defaults(field, key, given), _describe(field))
                yield from _rows(item_model, f"{path}.<name>", None)
            else:
                yield Row(path, _bounded("list of blocks", constraints), _defaults(field, key, given),
                          _describe(field))
                yield from _rows(item_model, f"{path}[]", None)
            continue
        yield Row(path, _type_name(annotation, constraints), _defaults(field, key, given), _describe(field))


def _get(values: Any, key: str) -> Any:
    return values.get(key) if isinstance(values, Mapping) else None


def _describe(field: FieldInfo) -> str:
    return " ".join((field.description or "").split())


def _optional(field: FieldInfo) -> bool:
    return field.default is None


def _defaults(field: FieldInfo, key: str, given: Mapping[str, Any] | None) -> tuple[str, ...]:
    shown = []
    for stage in STAGES:
        values = given[stage] if given else None
        if isinstance(values, Mapping) and key in values:
            shown.append(f"`{_flow(values[key])}`")
        elif field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
            shown.append("-" if isinstance(default, BaseModel) else f"`{_flow(default)}`")
        elif field.default is PydanticUndefined:
            shown.append(REQUIRED)
        elif field.default is None:
            shown.append(UNSET)
        else:
            shown.append(f"`{_flow(field.default)}`")
    return tuple(shown)


def _flow(value: Any) -> str:
    """A value as YAML flow style, as a stack file would write it inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return _flow(value.value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return str(value)


def _unwrap(field: FieldInfo) -> tuple[Any, list[Any]]:
    """The field's type without `None` and `Annotated`, and every constraint found on the way."""
    constraints = list(field.metadata)
    annotation = field.annotation
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                constraints.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation, constraints
            annotation = members[0]
        else:
            return annotation, constraints


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _container_item(annotation: Any) -> tuple[str, Any] | None:
    origin = get_origin(annotation)
    if origin is dict:
        return "map", _strip(get_args(annotation)[1])
    if origin in (list, tuple, set, frozenset):
        return "list", _strip(get_args(annotation)[0])
    return None


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _type_name(annotation: Any, constraints: list[Any]) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(f"`{_flow(value)}`" for value in get_args(annotation))
    item = _container_item(annotation)
    if item is not None:
        kind, element = item
        element_name = _type_name(element, _constraints_of(get_args(annotation)[-1]))
        return _bounded(f"{kind} of {element_name}", constraints)
    names = {bool: "bool", int: "int", float: "number", str: "string", SecretStr: "secret string"}
    name = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return _bounded(name, constraints)


def _constraints_of(annotation: Any) -> list[Any]:
    found: list[Any] = []
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            found.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return found


def _bounded(name: str, constraints: list[Any]) -> str:
    bounds = {}
    for constraint in constraints:
        for attribute in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(constraint, attribute, None)
            if value is not None:
                bounds[attribute] = value
    low = f"{bounds['ge']}" if "ge" in bounds else (f"> {bounds['gt']}" if "gt" in bounds else None)
    high = f"{bounds['le']}" if "le" in bounds else (f"< {bounds['lt']}" if "lt" in bounds else None)
    if "ge" in bounds and "le" in bounds:
        name += f", {low} to {high}"
    elif low is not None:
        name += f", >= {low}" if "ge" in bounds else f", {low}"
    elif high is not None:
        name += f", <= {high}" if "le" in bounds else f", {high}"
    least = bounds.get("min_length")
    if least and name.startswith(("list", "map")):
        name += f", at least {least} item{'s' if least > 1 else ''}"
    elif least:
        name += ", non-empty" if least == 1 else f", at least {least} characters"
    return name


def table(
    model: type[BaseModel] = StackConfig,
    stage_defaults: Mapping[str, Mapping[str, Any]] = STAGE_DEFAULTS,
    project_root: Path = REPO_ROOT,
) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += [row.markdown() for row in rows(model, stage_defaults, project_root)]
    return "\n".join(lines) + "\n"


def render(document: str, generated: str) -> str:
    """`document` with the text between the markers replaced by `generated`."""
    try:
        head, rest = document.split(BEGIN + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the markers are missing: put\n{BEGIN}\n{END}\nwhere the table goes") from None
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.config_docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("document", type=Path, help="the Markdown file holding the markers (README.md)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when it differs")
    args = parser.parse_args(argv)
    current = args.document.read_text()
    try:
        wanted = render(current, table())
    except ValueError as error:
        print(f"{args.document}: {error}", file=sys.stderr)
        return 2
    if args.check:
        if wanted != current:
            print(f"{args.document}: the configuration table differs from the model; run `make config-docs`",
                  file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        args.document.write_text(wanted)
        print(f"{args.document}: configuration table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
