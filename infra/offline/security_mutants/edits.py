"""Small, named ways to change a recorded resource, so each mutation reads as the mistake it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from infra.offline.harness import RecordedResource, Recording

Change = Callable[[Recording], None]
FOREIGN_ACCOUNT = "999988887777"


Path = str | tuple[str, ...]


def parts(path: Path) -> tuple[str, ...]:
    """A dotted path (`spec.template.spec.containers.0`), or a tuple where a key holds a dot (`dremio.conf`)."""
    return tuple(path.split(".")) if isinstance(path, str) else path


def at(node: Any, path: Path) -> Any:
    """The value at `path`, list items by index."""
    for part in parts(path):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def inputs(name: str, edit: Callable[[dict[str, Any]], None]) -> Change:
    """Edit the inputs of the resource called `name`."""

    def change(recording: Recording) -> None:
        edit(recording.named(name).inputs)

    return change


def setting(name: str, path: Path, value: Any) -> Change:
    """Set one input (the last part of the path is created when missing)."""
    *parent, key = parts(path)

    def edit(document: dict[str, Any]) -> None:
        holder = at(document, tuple(parent))
        if isinstance(holder, list):
            holder[int(key)] = value
        else:
            holder[key] = value

    return inputs(name, edit)


def removing(name: str, path: Path) -> Change:
    *parent, key = parts(path)

    def edit(document: dict[str, Any]) -> None:
        holder = at(document, tuple(parent))
        del holder[key]

    return inputs(name, edit)


def appending(name: str, path: Path, item: Any) -> Change:
    def edit(document: dict[str, Any]) -> None:
        at(document, path).append(item)

    return inputs(name, edit)


def option(name: str, **options: Any) -> Change:
    """Set resource options (`protect=False`)."""

    def change(recording: Recording) -> None:
        target = recording.named(name)
        for key, value in options.items():
            setattr(target, key, value)

    return change


def document(name: str, edit: Callable[[dict[str, Any]], None], key: str = "policy") -> Change:
    """Edit a JSON document held as a string input (IAM, bucket and key policies)."""

    def change(recording: Recording) -> None:
        target = recording.named(name)
        parsed = json.loads(target.inputs[key])
        edit(parsed)
        target.inputs[key] = json.dumps(parsed)

    return change


def statement_added(name: str, statement: dict[str, Any], key: str = "policy") -> Change:
    return document(name, lambda parsed: parsed["Statement"].append(statement), key)


def statement_edited(name: str, sid: str, edit: Callable[[dict[str, Any]], None]) -> Change:
    def change(parsed: dict[str, Any]) -> None:
        edit(next(item for item in parsed["Statement"] if item.get("Sid") == sid))

    return document(name, change)


def text(name: str, path: Path, old: str, new: str) -> Change:
    """Replace `old` by `new` in a text input (a config file in a ConfigMap), `old` must be there; an empty `old`
    appends `new`."""
    *parent, key = parts(path)

    def edit(document: dict[str, Any]) -> None:
        holder = at(document, tuple(parent))
        if old not in holder[key]:
            raise ValueError(f"{name}: {path} does not contain {old!r}")
        holder[key] = holder[key].replace(old, new, 1) if old else holder[key] + new

    return inputs(name, edit)


def together(*changes: Change) -> Change:
    def change(recording: Recording) -> None:
        for each in changes:
            each(recording)

    return change


def added(resource: RecordedResource) -> Change:
    def change(recording: Recording) -> None:
        recording.resources.append(resource)

    return change


def copy_of(name: str, new_name: str, edit: Callable[[dict[str, Any]], None]) -> Change:
    """A second resource made from an existing one (a copy-paste), under a new name and URN."""
    import copy

    def change(recording: Recording) -> None:
        source = recording.named(name)
        twin = copy.deepcopy(source)
        twin.name = new_name
        twin.urn = source.urn.rsplit("::", 1)[0] + "::" + new_name
        edit(twin.inputs)
        recording.resources.append(twin)

    return change
