"""A small model of Fluent Bit's record pipeline, enough to run the platform's rendered configuration in tests.

It reads the classic configuration text and the parsers file exactly as rendered, and applies the filters the
platform uses, in order, to records whose tag matches: `parser` (regex through the `regex` module, which reads
Onigmo's `(?<name>...)` groups, or json; Time_Key/Time_Format, Types, Reserve_Data, Preserve_Key), `nest` lift,
`modify` Rename/Add, `record_modifier` Allowlist_key, `grep` Regex and `rewrite_tag` (a re-tagged record starts the
filter chain again, as records from the emitter input do). Outputs: `es` with Logstash_Format, giving the index
name and the document with the Time_Key field. Tail/CRI decoding and the kubernetes filter are not modelled:
records enter with the `log` line and the `kubernetes` map that filter would add.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex


@dataclass
class Section:
    kind: str
    entries: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        for name, value in self.entries:
            if name.lower() == key.lower():
                return value
        return default

    def all(self, key: str) -> list[str]:
        return [value for name, value in self.entries if name.lower() == key.lower()]

    def matches(self, tag: str) -> bool:
        pattern = self.get("Match_Regex")
        if pattern is not None:
            return regex.fullmatch(pattern, tag) is not None
        return fnmatch.fnmatchcase(tag, self.get("Match", ""))


def parse_sections(text: str) -> list[Section]:
    sections: list[Section] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append(Section(line[1:-1].upper()))
            continue
        key, _, value = line.partition(" ")
        sections[-1].entries.append((key, value.strip()))
    return sections


@dataclass
class Event:
    tag: str
    time: datetime
    record: dict[str, Any]


@dataclass
class Document:
    index: str
    body: dict[str, Any]


def _strptime(text: str, fmt: str) -> datetime:
    # Fluent Bit's %L is the fraction of a second (any precision); Python's %f takes at most six digits.
    python_format = fmt.replace("%L", "%f")
    if "%L" in fmt:
        text = regex.sub(r"\.(\d{6})\d+", r".\1", text)
    parsed = datetime.strptime(text, python_format)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _accessor(record: dict[str, Any], path: str) -> Any:
    head, *rest = regex.match(r"^\$([A-Za-z0-9_]+)(.*)$", path).groups()
    value: Any = record.get(head)
    for key in regex.findall(r"\['([^']*)'\]", rest[0]):
        value = value.get(key) if isinstance(value, dict) else None
    return value


class FluentBit:
    def __init__(self, filters: str, outputs: str, parsers: str) -> None:
        self.filters = parse_sections(filters)
        self.outputs = parse_sections(outputs)
        self.parsers = {section.get("Name"): section for section in parse_sections(parsers)}

    def regex_of(self, parser: str) -> regex.Pattern:
        return regex.compile(self.parsers[parser].get("Regex"))

    def run(self, tag: str, time: datetime, record: dict[str, Any]) -> list[Document]:
        documents: list[Document] = []
        for event in self._filter(Event(tag, time, dict(record)), 0):
            for output in self.outputs:
                if output.matches(event.tag):
                    documents.append(self._es(output, event))
        return documents

    def _filter(self, event: Event, start: int) -> list[Event]:
        for position in range(start, len(self.filters)):
            section = self.filters[position]
            if not section.matches(event.tag):
                continue
            name = section.get("Name")
            if name == "rewrite_tag":
                for rule in section.all("Rule"):
                    key, pattern, new_tag, keep = rule.split()
                    value = _accessor(event.record, key)
                    if value is not None and regex.search(pattern, str(value)):
                        copy = self._filter(Event(new_tag, event.time, dict(event.record)), 0)
                        if keep == "true":
                            return copy + self._filter(event, position + 1)
                        return copy
                continue
            if name == "grep":
                key, pattern = section.get("Regex").split(" ", 1)
                if not regex.search(pattern.strip(), str(event.record.get(key, ""))):
                    return []
                continue
            getattr(self, f"_{name}")(section, event)
        return [event]

    def _parser(self, section: Section, event: Event) -> None:
        key = section.get("Key_Name")
        if key not in event.record:
            return
        parser = self.parsers[section.get("Parser")]
        text = event.record[key]
        if parser.get("Format") == "json":
            try:
                parsed = json.loads(text)
            except (TypeError, json.JSONDecodeError):
                return
        else:
            match = self.regex_of(section.get("Parser")).search(str(text))
            if match is None:
                return
            parsed = {name: value for name, value in match.groupdict().items() if value is not None}
        for spec in (parser.get("Types") or "").split():
            name, type_ = spec.split(":")
            if name in parsed:
                parsed[name] = {"integer": int, "float": float, "string": str}[type_](parsed[name])
        time_key = parser.get("Time_Key")
        if time_key and time_key in parsed:
            event.time = _strptime(parsed.pop(time_key), parser.get("Time_Format"))
        kept = dict(event.record) if section.get("Reserve_Data") == "On" else {}
        if section.get("Preserve_Key") != "On":
            kept.pop(key, None)
        else:
            kept[key] = text
        event.record = {**kept, **parsed}

    def _nest(self, section: Section, event: Event) -> None:
        nested = event.record.get(section.get("Nested_under"))
        if not isinstance(nested, dict):
            return
        del event.record[section.get("Nested_under")]
        prefix = section.get("Add_prefix", "")
        event.record.update({f"{prefix}{key}": value for key, value in nested.items()})

    def _modify(self, section: Section, event: Event) -> None:
        for rule in section.all("Rename"):
            old, new = rule.split()
            if old in event.record and new not in event.record:
                event.record[new] = event.record.pop(old)
        for rule in section.all("Add"):
            key, value = rule.split(" ", 1)
            event.record.setdefault(key, value)

    def _record_modifier(self, section: Section, event: Event) -> None:
        allowed = set(section.all("Allowlist_key"))
        event.record = {key: value for key, value in event.record.items() if key in allowed}

    def _kubernetes(self, section: Section, event: Event) -> None:
        """Modelled by the input: records arrive with the `kubernetes` map already."""

    def _es(self, output: Section, event: Event) -> Document:
        date_format = output.get("Logstash_DateFormat", "%Y.%m.%d")
        index = f"{output.get('Logstash_Prefix')}-{event.time.strftime(date_format)}"
        stamp = event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{event.time.microsecond // 1000:03d}Z"
        return Document(index, {output.get("Time_Key", "@timestamp"): stamp, **event.record})
