"""The evidence document (infra/offline/evidence.py) as Markdown and as one self-contained HTML page.

Both are rendered from the document alone, so the same document gives the same bytes. The page has its style inline,
no script and no external asset, and escapes every value it shows; Markdown cells escape `|` and line breaks.
"""

from __future__ import annotations

import html
import json
from typing import Any

STATUS_ORDER = {"fail": 0, "skipped": 1, "exempt": 2, "pass": 3}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[status]} {status}" for status in ("pass", "fail", "exempt", "skipped"))


def _cis(policy: dict[str, Any]) -> str:
    return "; ".join(f"{ref['benchmark']} {ref['id']}" for ref in policy["cis"]) or "-"


def _rows(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(policy["results"], key=lambda row: (STATUS_ORDER[row["status"]], row["urn"]))


def _header(document: dict[str, Any]) -> list[tuple[str, str]]:
    pack, config, summary = document["pack"], document["config"], document["summary"]
    return [
        ("Stack", f"{document['stack']} ({document['semantics']} semantics, {summary['resources']} resources)"),
        ("Evaluation date", document["evaluationDate"]),
        ("Policy pack", f"{pack['name']} {pack['version']}, content SHA-256 {pack['contentSha256']} "
                        f"({pack['files']} files)"),
        ("Enforcement config", f"{config['file']}, SHA-256 {config['sha256']}"),
        ("Results", f"{summary['policies']} policies ({summary['disabled']} disabled): {summary['pass']} pass, "
                    f"{summary['fail']} fail ({summary['mandatoryViolations']} mandatory), {summary['exempt']} exempt, "
                    f"{summary['skipped']} skipped"),
        ("Allow-list", f"{summary['exemptions']} exemption(s), {summary['exceptions']} exception(s); "
                       f"{summary['expiring']} expiring within 30 days, {summary['refused']} refused"),
    ]


def render_markdown(document: dict[str, Any]) -> str:
    policies = {policy["id"]: policy for policy in document["policies"]}
    lines = [f"# Policy evidence: `{document['stack']}`", ""]
    lines += [f"- **{label}:** {_cell(value)}" for label, value in _header(document)]
    lines += ["", "## Controls by principle", ""]
    for principle in document["principles"]:
        lines += [f"### {principle['title']}", "", "| policy | code | level | results | CIS |", "|---|---|---|---|---|"]
        for name in principle["policies"]:
            policy = policies[name]
            lines.append(f"| [`{name}`](#{name}) | {policy['code']} | {policy['level']} | {_counts(policy['counts'])} "
                         f"| {_cell(_cis(policy))} |")
        lines.append("")
    lines += ["## Exemptions", ""]
    lines += ["| policy | resource | status | expires | reason | problem |", "|---|---|---|---|---|---|"]
    lines += [f"| `{_cell(e['policy'])}` | `{_cell(e['resource'])}` | {e['status']} | {_cell(e['expires'])} | "
              f"{_cell(e['reason'])} | {_cell(e['problem'])} |" for e in document["exemptions"]] or ["| - | - | - | - |"
                                                                                                     " - | - |"]
    lines += ["", "## Exceptions", ""]
    lines += ["| resource | status | expires | reason | problem |", "|---|---|---|---|---|"]
    lines += [f"| `{_cell(e['resource'])}` | {e['status']} | {_cell(e['expires'])} | {_cell(e['reason'])} | "
              f"{_cell(e['problem'])} |" for e in document["exceptions"]] or ["| - | - | - | - | - |"]
    lines += ["", "## Enforcement config", "", "| policy | level | settings |", "|---|---|---|"]
    for name, level in document["config"]["levels"].items():
        settings = document["config"]["settings"].get(name)
        lines.append(f"| `{name}` | {level} | {_cell(settings) if settings else '-'} |")
    lines += ["", "## Results per policy", ""]
    for policy in document["policies"]:
        lines += [f'<a id="{policy["id"]}"></a>', f"### {policy['code']} `{policy['id']}`", "",
                  f"{_cell(policy['title'])}. Level {policy['level']}, severity {policy['severity']}, {policy['kind']} "
                  f"policy; {_counts(policy['counts'])}; CIS: {_cell(_cis(policy))}.", ""]
        if policy["level"] == "disabled":
            lines += ["Disabled in this stack's config: it judged nothing.", ""]
            continue
        if not policy["results"]:
            lines += ["No resource of this stack is of a kind it judges.", ""]
            continue
        lines += ["| result | resource | type | details |", "|---|---|---|---|"]
        lines += [f"| {row['status']} | `{_cell(row['name'])}` | `{_cell(row['type'])}` | "
                  f"{_cell(' / '.join(row['details'])) or '-'} |" for row in _rows(policy)]
        lines.append("")
    lines += ["## Sources of the CIS control ids", ""]
    lines += [f"- {source['benchmark']}: `{source['source']}`" for source in document["cisSources"]]
    return "\n".join(lines) + "\n"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:80rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}code{font-size:.85rem}
.fail{background:#fde2e2}.skipped{background:#fff4d6}.exempt{background:#e6efff}.refused{background:#fde2e2}
.expiring{background:#fff4d6}dt{font-weight:bold}dd{margin:0 0 .5rem 1rem}
"""


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value, sort_keys=True), quote=True)


def _table(headers: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """`rows` of (css class, already escaped cells)."""
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    body = "".join(f'<tr class="{css}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
                   for css, cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(document: dict[str, Any]) -> str:
    policies = {policy["id"]: policy for policy in document["policies"]}
    parts = [f"<h1>Policy evidence: <code>{_e(document['stack'])}</code></h1>", "<dl>"]
    parts += [f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in _header(document)]
    parts += ["</dl>", "<h2>Controls by principle</h2>"]
    for principle in document["principles"]:
        parts.append(f"<h3>{_e(principle['title'])}</h3>")
        parts.append(_table(["policy", "code", "level", "results", "CIS"], [
            ("", [f'<a href="#{_e(name)}"><code>{_e(name)}</code></a>', _e(policies[name]["code"]),
                  _e(policies[name]["level"]), _e(_counts(policies[name]["counts"])), _e(_cis(policies[name]))])
            for name in principle["policies"]]))
    parts.append("<h2>Exemptions</h2>")
    parts.append(_table(["policy", "resource", "status", "expires", "reason", "problem"], [
        (_e(e["status"]), [f"<code>{_e(e['policy'])}</code>", f"<code>{_e(e['resource'])}</code>", _e(e["status"]),
                           _e(e["expires"]), _e(e["reason"]), _e(e["problem"])]) for e in document["exemptions"]]))
    parts.append("<h2>Exceptions</h2>")
    parts.append(_table(["resource", "status", "expires", "reason", "problem"], [
        (_e(e["status"]), [f"<code>{_e(e['resource'])}</code>", _e(e["status"]), _e(e["expires"]), _e(e["reason"]),
                           _e(e["problem"])]) for e in document["exceptions"]]))
    parts.append("<h2>Enforcement config</h2>")
    parts.append(_table(["policy", "level", "settings"], [
        ("", [f"<code>{_e(name)}</code>", _e(level), _e(document["config"]["settings"].get(name, "-"))])
        for name, level in document["config"]["levels"].items()]))
    parts.append("<h2>Results per policy</h2>")
    for policy in document["policies"]:
        parts.append(f'<h3 id="{_e(policy["id"])}">{_e(policy["code"])} <code>{_e(policy["id"])}</code></h3>')
        parts.append(f"<p>{_e(policy['title'])}. Level {_e(policy['level'])}, severity {_e(policy['severity'])}, "
                     f"{_e(policy['kind'])} policy; {_e(_counts(policy['counts']))}; CIS: {_e(_cis(policy))}.</p>")
        if policy["level"] == "disabled":
            parts.append("<p>Disabled in this stack's config: it judged nothing.</p>")
        elif not policy["results"]:
            parts.append("<p>No resource of this stack is of a kind it judges.</p>")
        else:
            parts.append(_table(["result", "resource", "type", "details"], [
                (_e(row["status"]), [_e(row["status"]), f"<code>{_e(row['name'])}</code>",
                                     f"<code>{_e(row['type'])}</code>", _e(" / ".join(row["details"]) or "-")])
                for row in _rows(policy)]))
    parts.append("<h2>Sources of the CIS control ids</h2><ul>")
    parts += [f"<li>{_e(source['benchmark'])}: <code>{_e(source['source'])}</code></li>"
              for source in document["cisSources"]]
    parts.append("</ul>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>Policy evidence: {_e(document['stack'])}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
