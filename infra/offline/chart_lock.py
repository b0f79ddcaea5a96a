"""The chart lock (`make chart-lock`, or `python -m infra.offline.chart_lock`): the digest of every pinned chart.

infra/model/charts.lock.json holds, for each chart infra/model/charts.py pins, its repository, name and version,
the sha256 of the packaged chart as the repository's index lists it (`sha256:<hex>`) and where that digest was
read; or a null digest and the reason it is unresolved. Where each chart's digest is read, first that applies:

  --package CHART=CLONE@REF:PATH   the published package in a clone of the repository the chart repository serves
                                   (repositories that serve their packages from git; its sha256 is the index's
                                   digest, since Helm's index is made by hashing these files)
  --index CHART=FILE               an index.yaml on disk
  --index CHART=CLONE[@REF:PATH]   the index in such a clone (by default the chart's `pages` branch, index.yaml)
  otherwise                        <repository>/index.yaml over HTTPS

A chart packaged here from its sources is never hashed: its bytes differ from the published package's.

An entry whose pin is unchanged keeps its digest when no source answers, so an unreachable repository never erases
a resolved digest. A source that lists another digest for a locked version (the chart was republished) or does not
list the pinned version at all (it was never published, or withdrawn) is an error: the entry is left as it was and
the run exits 1. `--check` reads nothing but the files and exits 1 when the lock is stale against the pins (a chart
pinned but absent or locked but not pinned, a version or repository changed, a malformed entry); the same
problems fail tests/infra/test_chart_lock.py. Exit codes: 0 written (unresolved charts are listed, not errors), 1
as above, 2 a bad argument. See docs/locks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.model.charts import CHARTS, LOCK_FILE, ChartPaths

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SOURCE_KINDS = ("index", "package")
FETCH_TIMEOUT_SECONDS = 30
MAX_INDEX_BYTES = 256 * 1024 * 1024
GIT_SOURCE = re.compile(r"^(?P<clone>[^@]+)@(?P<ref>[^:]+):(?P<path>.+)$")


class SourceError(Exception):
    """A source could not be read; the message says which and why."""


class PinError(Exception):
    """A source contradicts the pin or the lock (a version it does not list, a digest that changed)."""


@dataclass(frozen=True)
class Found:
    """What a source answered for one chart: the digest and the provenance recorded beside it."""

    digest: str
    source: dict[str, Any]


# ---- reading sources -------------------------------------------------------------------------------------------


def git_blob(clone: str, ref: str, path: str) -> tuple[bytes, str]:
    """(content, commit) of `path` at `ref` in the git directory or work tree `clone`."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, timeout=120)

    root = Path(clone)
    git_dir = root / ".git" if (root / ".git").is_dir() else root
    commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit.returncode:
        raise SourceError(f"{clone} has no commit `{ref}`")
    sha = commit.stdout.decode().strip()
    listed = git("ls-tree", sha, "--", path).stdout.decode().split()
    if len(listed) < 3:
        raise SourceError(f"{path} is not in {ref} ({sha[:12]})")
    blob = git("cat-file", "blob", listed[2])
    if blob.returncode:
        raise SourceError(f"{path} at {ref} ({sha[:12]}) is listed but its content is not in the clone (a partial "
                          "or trimmed copy)")
    return blob.stdout, sha


def fetch(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "dataplatform-chart-lock"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_INDEX_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise SourceError(f"{url} answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"{url} could not be read ({reason})") from None
    if len(body) > MAX_INDEX_BYTES:
        raise SourceError(f"{url} is larger than {MAX_INDEX_BYTES} bytes")
    return body


def index_url(repository: str) -> str:
    return repository.rstrip("/") + "/index.yaml"


def digest_in_index(content: bytes, chart: ChartPaths, where: str) -> tuple[str, str]:
    """(digest, the index's `generated` time) of the pinned version in an index.yaml."""
    try:
        index = yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise SourceError(f"{where} is not YAML ({error.__class__.__name__})") from None
    if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
        raise SourceError(f"{where} is not a chart repository index (no `entries`)")
    versions = index["entries"].get(chart.chart) or []
    listed = [entry for entry in versions if isinstance(entry, dict) and str(entry.get("version")) == chart.version]
    if not listed:
        nearby = sorted({str(entry.get("version")) for entry in versions if isinstance(entry, dict)},
                        key=_version_key)[-5:]
        raise PinError(f"{where} does not list {chart.chart} {chart.version}"
                       + (f" (its latest: {', '.join(nearby)})" if nearby else f" (no chart named {chart.chart})"))
    digest = str(listed[0].get("digest") or "")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise SourceError(f"{where} lists {chart.chart} {chart.version} without a sha256 digest")
    return f"sha256:{digest}", str(index.get("generated", ""))


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.+-]", version.lstrip("v")))


def pages_parts(chart: ChartPaths) -> tuple[str, str]:
    """(`owner/name`, branch) of the chart's `pages`, or ("", "") where the repository is not served from git."""
    repository, _, branch = chart.pages.partition("@")
    return repository, branch


def from_index(chart: ChartPaths, spec: str) -> Found:
    """The digest from an index file, or from the index in a clone (`CLONE[@REF:PATH]`)."""
    path = Path(spec)
    if path.is_file():
        content = path.read_bytes()
        digest, generated = digest_in_index(content, chart, path.name)
        return Found(digest, {"kind": "index", "file": path.name,
                              "fileSha256": hashlib.sha256(content).hexdigest(), "generated": generated})
    pages, branch = pages_parts(chart)
    if (match := GIT_SOURCE.match(spec)) is not None:
        clone, ref, inner = match["clone"], match["ref"], match["path"]
    elif path.is_dir() and branch:
        clone, ref, inner = spec, branch, "index.yaml"
    else:
        raise SourceError(f"{spec} is neither an index file nor a clone given as CLONE@REF:PATH")
    content, commit = git_blob(clone, ref, inner)
    digest, generated = digest_in_index(content, chart, f"{inner} at {ref} ({commit[:12]})")
    return Found(digest, {"kind": "index", "git": pages or "(unnamed clone)", "ref": ref, "commit": commit,
                          "path": inner, "generated": generated})


def from_package(chart: ChartPaths, spec: str) -> Found:
    """The sha256 of the published package in a clone (`CLONE@REF:PATH`), after checking it is the pinned chart."""
    match = GIT_SOURCE.match(spec)
    if match is None:
        raise SourceError(f"{spec}: a package is read from a clone only, as CLONE@REF:PATH (a package built here is "
                          "never hashed)")
    content, commit = git_blob(match["clone"], match["ref"], match["path"])
    name, version = package_identity(content, match["path"])
    if (name, version) != (chart.chart, chart.version):
        raise PinError(f"{match['path']} at {match['ref']} is {name} {version}, not the pinned {chart.chart} "
                       f"{chart.version}")
    pages, _ = pages_parts(chart)
    return Found(f"sha256:{hashlib.sha256(content).hexdigest()}",
                 {"kind": "package", "git": pages or "(unnamed clone)", "ref": match["ref"], "commit": commit,
                  "path": match["path"]})


def package_identity(content: bytes, where: str) -> tuple[str, str]:
    """(name, version) of the Chart.yaml at the top of a packaged chart."""
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            member = next((m for m in archive.getmembers() if m.name.count("/") == 1
                           and m.name.endswith("/Chart.yaml")), None)
            if member is None:
                raise SourceError(f"{where} has no top-level Chart.yaml")
            reader = archive.extractfile(member)
            meta = yaml.safe_load(reader.read()) if reader else None
    except (tarfile.TarError, OSError, yaml.YAMLError) as error:
        raise SourceError(f"{where} is not a packaged chart ({error.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise SourceError(f"{where} has an empty Chart.yaml")
    return str(meta.get("name")), str(meta.get("version"))


def from_repository(chart: ChartPaths, fetcher: Callable[[str], bytes]) -> Found:
    if not chart.repository.startswith(("https://", "http://")):
        raise SourceError(f"{chart.repository} has no index.yaml to read (not an HTTP chart repository)")
    url = index_url(chart.repository)
    digest, generated = digest_in_index(fetcher(url), chart, url)
    return Found(digest, {"kind": "index", "url": url, "generated": generated})


# ---- the lock ----------------------------------------------------------------------------------------------------


def pinned_entry(chart: ChartPaths) -> dict[str, Any]:
    return {"repository": chart.repository, "name": chart.chart, "version": chart.version}


def resolved_entry(chart: ChartPaths, found: Found) -> dict[str, Any]:
    return {**pinned_entry(chart), "digest": found.digest, "source": found.source}


def unresolved_entry(chart: ChartPaths, reason: str) -> dict[str, Any]:
    return {**pinned_entry(chart), "digest": None, "unresolved": reason}


def same_pin(entry: Mapping[str, Any] | None, chart: ChartPaths) -> bool:
    return entry is not None and all(entry.get(key) == value for key, value in pinned_entry(chart).items())


def read_lock(path: Path = LOCK_FILE) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def render(lock: Mapping[str, Any]) -> str:
    return json.dumps({name: lock[name] for name in sorted(lock)}, indent=2) + "\n"


def problems(lock: Mapping[str, Any], charts: Mapping[str, ChartPaths] = CHARTS) -> list[str]:
    """Why `lock` is stale against the pins, one line each; empty when it is current."""
    found = []
    for name in sorted(set(charts) | set(lock)):
        entry, chart = lock.get(name), charts.get(name)
        if chart is None:
            found.append(f"{name}: locked but not pinned in infra/model/charts.py")
            continue
        if not isinstance(entry, dict):
            found.append(f"{name}: pinned ({chart.version}) but not in the lock")
            continue
        for key, value in pinned_entry(chart).items():
            if entry.get(key) != value:
                found.append(f"{name}: the lock has {key} {entry.get(key)!r}, the pin {value!r}")
        digest = entry.get("digest")
        if digest is None:
            if not str(entry.get("unresolved") or "").strip():
                found.append(f"{name}: no digest and no reason it is unresolved")
        elif not isinstance(digest, str) or not DIGEST.match(digest):
            found.append(f"{name}: digest {digest!r} is not sha256:<64 hex digits>")
        elif not isinstance(entry.get("source"), dict) or entry["source"].get("kind") not in SOURCE_KINDS:
            found.append(f"{name}: digest without its source (kind one of {', '.join(SOURCE_KINDS)})")
    return found


@dataclass
class Outcome:
    lock: dict[str, Any]
    lines: list[str]
    errors: int


def update(lock: Mapping[str, Any], charts: Mapping[str, ChartPaths], indexes: Mapping[str, str],
           packages: Mapping[str, str], fetcher: Callable[[str], bytes] = fetch) -> Outcome:
    """The lock after asking each chart's source, with one report line per chart."""
    result: dict[str, Any] = {}
    lines: list[str] = []
    errors = 0
    for name in sorted(charts):
        chart, previous = charts[name], lock.get(name)
        kept = previous if same_pin(previous, chart) else None
        try:
            if name in packages:
                found = from_package(chart, packages[name])
            elif name in indexes:
                found = from_index(chart, indexes[name])
            else:
                found = from_repository(chart, fetcher)
        except PinError as error:
            errors += 1
            result[name] = kept or unresolved_entry(chart, str(error))
            lines.append(f"{name} {chart.version}: ERROR {error}")
            continue
        except SourceError as error:
            if kept is not None and kept.get("digest"):
                result[name] = kept
                lines.append(f"{name} {chart.version}: kept {kept['digest']} ({error})")
            else:
                reason = f"{error}; {remedy(name, chart)}"
                result[name] = unresolved_entry(chart, reason)
                lines.append(f"{name} {chart.version}: unresolved: {reason}")
            continue
        if kept is not None and kept.get("digest") and kept["digest"] != found.digest:
            errors += 1
            result[name] = kept
            lines.append(f"{name} {chart.version}: ERROR {describe(found.source)} lists {found.digest}, the lock "
                         f"{kept['digest']}: the chart was republished; compare the two packages, then delete the "
                         "entry to accept the new one")
            continue
        result[name] = resolved_entry(chart, found)
        lines.append(f"{name} {chart.version}: {found.digest} from {describe(found.source)}")
    return Outcome(result, lines, errors)


def remedy(name: str, chart: ChartPaths) -> str:
    """What would resolve a chart whose source could not be read."""
    pages, branch = pages_parts(chart)
    where = "run `make chart-lock` where its repository is reachable"
    if pages:
        return f"{where}, or give the index of a complete clone of {pages} (--index {name}=<clone>, branch {branch})"
    return f"{where} (no public git repository serves it)"


def describe(source: Mapping[str, Any]) -> str:
    what = "the package" if source["kind"] == "package" else "the index"
    if "url" in source:
        return f"{what} {source['url']}"
    if "git" in source:
        return f"{what} {source['path']} of {source['git']} at {source['ref']} ({source['commit'][:12]})"
    return f"{what} file {source['file']}"


def assignments(pairs: list[str], option: str, charts: Mapping[str, ChartPaths]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not value:
            raise ValueError(f"{option} {pair}: expected CHART=SOURCE")
        if name not in charts:
            raise ValueError(f"{option} {pair}: {name} is not a pinned chart ({', '.join(sorted(charts))})")
        parsed[name] = value
    return parsed


def main(argv: list[str] | None = None, charts: Mapping[str, ChartPaths] = CHARTS,
         fetcher: Callable[[str], bytes] = fetch) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.chart_lock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", action="append", default=[], metavar="CHART=FILE|CLONE[@REF:PATH]",
                        help="read CHART's digest from this index instead of its repository")
    parser.add_argument("--package", action="append", default=[], metavar="CHART=CLONE@REF:PATH",
                        help="hash CHART's published package in a clone of the repository that serves it")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the lock is stale")
    parser.add_argument("--lock", type=Path, default=LOCK_FILE)
    args = parser.parse_args(argv)
    lock = read_lock(args.lock)
    if args.check:
        stale = problems(lock, charts)
        for line in stale:
            print(f"{args.lock.name}: {line}")
        if stale:
            print("run `make chart-lock` and commit the result", file=sys.stderr)
        return 1 if stale else 0
    try:
        indexes = assignments(args.index, "--index", charts)
        packages = assignments(args.package, "--package", charts)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    outcome = update(lock, charts, indexes, packages, fetcher)
    print("\n".join(outcome.lines))
    args.lock.write_text(render(outcome.lock))
    unresolved = sorted(name for name, entry in outcome.lock.items() if not entry.get("digest"))
    print(f"chart lock: {len(outcome.lock) - len(unresolved)} of {len(outcome.lock)} charts resolved"
          + (f"; unresolved: {', '.join(unresolved)}" if unresolved else "") + f" -> {args.lock}")
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main())
