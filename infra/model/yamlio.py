"""Safe YAML through libyaml when PyYAML has it (about ten times faster than the pure-Python parser).

Same safe schema and the same `yaml.YAMLError` family either way; only the wording of parse errors may differ.
A key repeated in one mapping is an error (`DuplicateKeyError`): YAML forbids it, and libyaml would silently
keep the last one, so a second `dataplatform:ingestion:` block would replace the first without a word.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice; `path` leads to it (list items by their `name` where they have one)."""

    def __init__(self, path: tuple[str, ...], first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(
            context=f"in the mapping that first has `{path[-1]}` on line {first.line + 1}",
            context_mark=first,
            problem=f"duplicate key `{path[-1]}`",
            problem_mark=second,
        )
        self.path = path
        self.first_line = first.line + 1
        self.second_line = second.line + 1

    def describe(self, origin: str, skip: int = 0) -> str:
        """One line naming the key by its path (leaving out the first `skip` levels) and both of its lines."""
        path = ".".join(self.path[skip:] or self.path).replace(".[", "[")
        return (f"{origin}: {path}: duplicate key (lines {self.first_line} and {self.second_line}); YAML keeps only "
                "the last, so the first would be silently lost: merge them into one")


def load(text: str, loader_class: type | None = None) -> Any:
    loader = (loader_class or SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _require_unique_keys(node, ())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def dump(document: Any, **options: Any) -> str:
    return yaml.dump(document, Dumper=SafeDumper, **options)


def _require_unique_keys(node: Node, path: tuple[str, ...]) -> None:
    if isinstance(node, MappingNode):
        seen: dict[tuple[str, str], yaml.Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            # Keys are compared as written: YAML scalars, or a complex key's text span.
            name = key_node.value if isinstance(key_node, ScalarNode) else repr(key_node)
            key = (key_node.tag, name)
            if key in seen:
                raise DuplicateKeyError((*path, name), seen[key], key_node.start_mark)
            seen[key] = key_node.start_mark
            _require_unique_keys(value_node, (*path, name))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _require_unique_keys(item, (*path, f"[{_item_name(item) or index}]"))


def _item_name(node: Node) -> str | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "name" and isinstance(value_node, ScalarNode):
                return value_node.value or None
    return None
