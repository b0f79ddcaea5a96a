"""A small model of Fluent Bit's record pipeline, enough to run the platform's rendered configuration in tests.

It reads the classic configuration text and the parsers file exactly as rendered, and applies the filters the
platform uses, in order, to records whose tag matches: `parser` (regex through the `regex` module, which reads
Onigmo's `(?<name>...)` groups, or json; Time_Key/Time_Format, Types, Reserve_Data, Preserve_Key), `nest` lift,
`modify` Rename/Add, `record_modifier` Allowlist_key, `grep` Regex and `rewrite_tag` (a re-tagged record starts the
filter chain again, as records from the emitter input do), `lua` (the rendered script itself, run by LuaJIT 2.1
through `lupa`, as Fluent Bit runs it: return codes -1/0/1/2, integral numbers back as integers) and
`log_to_metrics` (counter, gauge and histogram; its Regex/Exclude rules in order, matching string values only, as Fluent
Bit's record accessor does; Label_Field values; Discard_Logs). Outputs: `es` with Logstash_Format, giving the index
name and the document with the Time_Key field, and `prometheus_exporter`, giving the text exposition of the series
whose metrics tag it matches (names `<namespace>_<subsystem>_<name>`, namespace `log_metric` and subsystem the mode
by default; bucket bounds printed as cmetrics prints them, `30.0`), and `s3` (`S3Object`s: what out_s3 uploads
with `use_put_object On`, `format json_lines` and `compression gzip`, one object per tag and flush; keys from
`s3_key_format` as `flb_get_s3_key` forms them: `$TAG[n]` parts split on `s3_key_format_tag_delimiters`, `$TAG`,
`$INDEX`, `$UUID` as 8 random characters, strftime over the UTC time of the object's first record, and the
`-object<8 random>` suffix when the format has neither `$UUID` nor `$INDEX`; the body one JSON object per line, the
time first under `json_date_key` (iso8601 with microseconds and `Z`), gzip-compressed whole, with the headers
`Content-Encoding: gzip` and, with `send_content_md5`, `Content-MD5`; sources: fluent/fluent-bit
plugins/out_s3/s3.c, src/aws/flb_aws_util.c and src/flb_pack.c at v5.1.1). Other out_s3 modes (multipart, other
formats or codecs) raise rather than be modelled wrongly. Tail/CRI decoding and the kubernetes filter are not
modelled: records enter with the `log` line and the `kubernetes` map that filter would add.
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import hashlib
import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lupa.luajit21 as lupa
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


@dataclass
class S3Object:
    """One PutObject of the s3 output: the bucket, the key (without the leading '/'), the body and its headers."""

    bucket: str
    key: str
    body: bytes
    headers: dict[str, str]

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in gzip.decompress(self.body).decode().splitlines()]


_TAG_PART = regex.compile(r"\$TAG\[(\d+)\]")
_ALPHANUMERIC = string.ascii_letters + string.digits


def _random8() -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(8))


def s3_key(key_format: str, time: datetime, tag: str, delimiters: str = ".", index: int = 0) -> str:
    """`flb_get_s3_key`: tag parts (strtok over the delimiters, at most 10), the whole tag, the index, a random
    `$UUID`, then strftime over the UTC time."""
    parts = [part for part in regex.split("[" + regex.escape(delimiters) + "]", tag) if part][:10]
    key = key_format
    for position, part in enumerate(parts):
        key = key.replace(f"$TAG[{position}]", part)
    if _TAG_PART.search(key):
        raise AssertionError(f"s3_key_format {key_format!r}: tag {tag!r} has no such part; out_s3 would only warn "
                             "and write '<tag>[n]' into the key")
    key = key.replace("$TAG", tag).replace("$INDEX", str(index)).replace("$UUID", _random8())
    return time.astimezone(UTC).strftime(key)


def _iso8601(time: datetime) -> str:
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{time.microsecond:06d}Z"


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


def metric_series(section: Section) -> str:
    """The series name a `log_to_metrics` section gives its metric."""
    mode = section.get("Metric_Mode", "counter")
    parts = [section.get("Metric_Namespace", "log_metric"), section.get("Metric_Subsystem", mode),
             section.get("Metric_Name", "a")]
    return "_".join(part for part in parts if part)


def _bound(value: float) -> str:
    text = f"{value:g}"
    return text if "." in text or "e" in text else f"{text}.0"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        found = regex.match(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value)
        return float(found.group(0)) if found else 0.0  # sscanf("%lf") leaves the value at 0 when nothing parses
    return None


@dataclass
class Metric:
    section: Section
    series: str
    mode: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]
    values: dict[tuple[str, ...], Any] = field(default_factory=dict)


class FluentBit:
    def __init__(self, filters: str, outputs: str, parsers: str, lua_scripts: dict[str, str] | None = None) -> None:
        self.filters = parse_sections(filters)
        self.outputs = parse_sections(outputs)
        self.parsers = {section.get("Name"): section for section in parse_sections(parsers)}
        self.lua = lupa.LuaRuntime(unpack_returned_tuples=True)
        for script in (lua_scripts or {}).values():
            self.lua.execute(script)
        self.s3_buffers: dict[tuple[int, str], list[Event]] = {}
        self.metrics: dict[int, Metric] = {}
        for position, section in enumerate(self.filters):
            if section.get("Name") == "log_to_metrics":
                buckets = tuple(sorted(float(bucket) for bucket in section.all("Bucket")))
                self.metrics[position] = Metric(section, metric_series(section), section.get("Metric_Mode"),
                                                tuple(section.all("Label_Field")), buckets)

    def regex_of(self, parser: str) -> regex.Pattern:
        return regex.compile(self.parsers[parser].get("Regex"))

    def run(self, tag: str, time: datetime, record: dict[str, Any]) -> list[Document]:
        documents: list[Document] = []
        for event in self._filter(Event(tag, time, dict(record)), 0):
            for position, output in enumerate(self.outputs):
                if output.get("Name") == "es" and output.matches(event.tag):
                    documents.append(self._es(output, event))
                if output.get("Name") == "s3" and output.matches(event.tag):
                    self.s3_buffers.setdefault((position, event.tag), []).append(event)
        return documents

    def flush_s3(self) -> list[S3Object]:
        """What the s3 outputs upload for the records buffered so far (as at `upload_timeout`): one object per
        output and tag, keyed by the time of its first record; the buffers are emptied."""
        objects = []
        for (position, tag), events in self.s3_buffers.items():
            objects.append(self._s3(self.outputs[position], tag, events))
        self.s3_buffers = {}
        return objects

    def _s3(self, output: Section, tag: str, events: list[Event]) -> S3Object:
        def setting(key: str, default: str) -> str:
            return (output.get(key) or default).strip()

        if setting("use_put_object", "false").lower() not in ("on", "true"):
            raise AssertionError("the model covers out_s3's PutObject mode only (use_put_object On)")
        if setting("format", "json_lines") != "json_lines" or setting("compression", "none") not in ("gzip", "none"):
            raise AssertionError("the model covers format json_lines, compression gzip or none")
        if setting("json_date_format", "iso8601").lower() != "iso8601":
            raise AssertionError("the model covers json_date_format iso8601 (out_s3's default)")
        key_format = setting("s3_key_format", "/fluent-bit-logs/$TAG/%Y/%m/%d/%H/%M/%S")
        if not key_format.startswith("/"):
            raise AssertionError("out_s3 refuses an s3_key_format that does not start with '/'")
        key = s3_key(key_format, events[0].time, tag, setting("s3_key_format_tag_delimiters", "."))
        if "$UUID" not in key_format and "$INDEX" not in key_format and \
                setting("static_file_path", "false").lower() not in ("on", "true") and len(key) + 16 <= 1024:
            key += f"-object{_random8()}"
        date_key = setting("json_date_key", "date")
        lines = []
        for event in events:
            line = {} if date_key.lower() in ("false", "off") else {date_key: _iso8601(event.time)}
            line.update(event.record)
            lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
        body = "".join(line + "\n" for line in lines).encode()
        headers = {}
        if setting("compression", "none") == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if setting("send_content_md5", "false").lower() in ("on", "true"):
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        return S3Object(setting("bucket", ""), key.removeprefix("/"), body, headers)

    def exposition(self) -> str:
        """What the `prometheus_exporter` outputs serve: every series whose metrics tag one of them matches."""
        lines: list[str] = []
        exporters = [output for output in self.outputs if output.get("Name") == "prometheus_exporter"]
        for metric in self.metrics.values():
            if not any(exporter.matches(metric.section.get("Tag")) for exporter in exporters):
                continue
            for values, observed in metric.values.items():
                labels = [f'{name}="{value}"' for name, value in zip(metric.labels, values, strict=True)]

                def braces(pairs: list[str]) -> str:
                    return "{" + ",".join(pairs) + "}" if pairs else ""

                if metric.mode in ("counter", "gauge"):
                    lines.append(f"{metric.series}{braces(labels)} {observed}")
                    continue
                bounds = [*map(_bound, metric.buckets), "+Inf"]
                for bound, count in zip(bounds, observed["buckets"], strict=True):
                    le = 'le="' + bound + '"'
                    lines.append(f"{metric.series}_bucket{braces([le, *labels])} {count}")
                lines.append(f"{metric.series}_sum{braces(labels)} {observed['sum']:g}")
                lines.append(f"{metric.series}_count{braces(labels)} {observed['count']}")
        return "\n".join(lines) + ("\n" if lines else "")

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
            if name == "log_to_metrics":
                self._log_to_metrics(self.metrics[position], event)
                if section.get("Discard_Logs", "Off").lower() in ("on", "true"):
                    return []
                continue
            if name == "lua":
                if not self._lua(section, event):
                    return []
                continue
            getattr(self, f"_{name}")(section, event)
        return [event]

    def _lua(self, section: Section, event: Event) -> bool:
        """Run the script's function; False when it drops the record."""
        function = self.lua.globals()[section.get("call")]
        if function is None:
            raise AssertionError(f"no Lua function {section.get('call')!r}: pass the rendered scripts to FluentBit")
        table = self.lua.table_from(event.record, recursive=True)
        code, timestamp, record = function(event.tag, event.time.timestamp(), table)
        if code == -1:
            return False
        if code in (1, 2):
            event.record = self._from_lua(record)
        if code == 1:
            event.time = datetime.fromtimestamp(timestamp, UTC)
        return True

    def _from_lua(self, value: Any) -> Any:
        if lupa.lua_type(value) != "table":
            return value
        items = dict(value.items())
        if items and all(isinstance(key, int) for key in items):
            return [self._from_lua(items[key]) for key in sorted(items)]
        return {key: self._from_lua(item) for key, item in items.items()}

    def _log_to_metrics(self, metric: Metric, event: Event) -> None:
        for kind, rule in metric.section.entries:
            if kind.lower() not in ("regex", "exclude"):
                continue
            key, pattern = rule.split(" ", 1)
            value = event.record.get(key)
            matched = isinstance(value, str) and regex.search(pattern.strip(), value) is not None
            if kind.lower() == "regex" and not matched:
                return
            if kind.lower() == "exclude" and matched:
                return
            if kind.lower() == "regex" and matched:
                break
        values = []
        for label in metric.labels:
            value = event.record.get(label)
            values.append(value if isinstance(value, str) else f"{value:f}" if isinstance(value, float)
                          else str(value) if isinstance(value, int) and not isinstance(value, bool) else "")
        key = tuple(values)
        if metric.mode == "counter":
            metric.values[key] = metric.values.get(key, 0) + 1
            return
        observed = _number(event.record.get(metric.section.get("Value_Field")))
        if observed is None:
            return
        if metric.mode == "gauge":  # set to the record's value (cmt_gauge_set)
            metric.values[key] = observed
            return
        state = metric.values.setdefault(key, {"buckets": [0] * (len(metric.buckets) + 1), "sum": 0.0, "count": 0})
        for index, bound in enumerate([*metric.buckets, float("inf")]):
            if observed <= bound:
                state["buckets"][index] += 1
        state["sum"] += observed
        state["count"] += 1

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


def platform_config(lake: Any = None) -> dict[str, str]:
    """The `config` sections the platform's log shipper gets: every product's log source, in the platform's order;
    with `lake` (a `shipping.LakeLogs`), its copy into the lake's `logs` layer too."""
    from components.logs import shipping
    from components.platform import LOG_SOURCES

    return shipping.render(LOG_SOURCES, lake)


def platform_shipper(lake: Any = None) -> FluentBit:
    """The platform's log shipper as configured: its rendered sections and its Lua scripts."""
    from components.logs import shipping
    from components.platform import LOG_SOURCES

    rendered = platform_config(lake)
    return FluentBit(rendered["filters"], rendered["outputs"], rendered["customParsers"],
                     shipping.lua_scripts(LOG_SOURCES))
