"""The local chart cache the render stage reads: every pinned chart unpacked, outside the repository.

    python -m infra.offline.render.cache [--cache DIR] [--sources DIR] [--chart-dir CHART=DIR ...]
                                         [--provenance CHART=FILE ...] [--chart NAME ...] [--refresh]

The cache lives in `$DATAPLATFORM_CHART_CACHE`, else `$XDG_CACHE_HOME/dataplatform/charts`, else
`~/.cache/dataplatform/charts`; `--cache` wins over both. Each pinned chart of `infra/model/charts.py` becomes
`<cache>/<chart>-<version>/`: the unpacked chart with its dependencies under `charts/`, and `.origin.json`, the
record of where it came from:

- `repository`: pulled from the chart's repository with Helm's SDK (`helm_python.pull`); the archive's sha256 is
  recorded. Only such a chart may be hashed into a chart lock.
- `source`: built from a source checkout (repository, ref and resolved commit, path, subcharts, Chart.yaml fields
  set as the release process sets them) because the repository could not be reached. A stand-in for the
  published package, close but not byte-identical: never hash it into a lock.
- `directory`: copied from a plain folder the user names (`--chart-dir CHART=DIR`), for a chart whose repository
  is too large to bring whole: its files copied one by one from the pin's recorded source (repository, tag or
  commit, path). The record names that source, the number of files and the sha256 of their listing (as
  `sha256sum` prints it, sorted by path); nothing proves the files are the tag's, so it is a stand-in built from
  files: never lockable. `--provenance CHART=FILE` adds what the folder's builder declares (a JSON object): where
  the files were really copied from (`copiedFrom`, `<owner>/<name>@<commit>:<path>`), which of them were compared
  with upstream and found equal (`verifiedAgainstUpstream`, each with how) and which were not (`notVerified`).
  The cache checks that the two lists name every file of the folder exactly once and records the declaration as
  such; it verifies none of it.

`--sources DIR` names a directory of git directories laid out as `DIR/<owner>+<name>/repo` (a bare repository or a
clone); without it only the repositories are tried. A `--chart-dir` folder is tried after the repository and before
the source checkouts. Charts already cached are kept unless `--refresh`.
Reports one line per chart: cached, already cached, or could not obtain (and why).
Exit codes: 0 every chart is cached, 1 some could not be obtained (the render stage skips them and says so),
2 bad input (a `--sources` directory or `--chart-dir` folder that does not exist, an unknown `--chart`, a
`--provenance` file that cannot be read or is not for a `--chart-dir` chart).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from infra.model.charts import CHARTS, ChartPaths, SourcePath

CACHE_ENV = "DATAPLATFORM_CHART_CACHE"
ORIGIN_FILE = ".origin.json"
FROM_REPOSITORY, FROM_SOURCE, FROM_DIRECTORY = "repository", "source", "directory"
NOT_LOCKABLE = "built from a source checkout, not the published package: never hash it into a chart lock"
NOT_LOCKABLE_FILES = ("a stand-in built from files copied one by one from the recorded source, not the published "
                      "package: never hash it into a chart lock")
EXIT_CACHED, EXIT_INCOMPLETE, EXIT_INPUT = 0, 1, 2


def user_cache(name: str, override: str) -> Path:
    """A cache folder outside the repository: `$<override>` when set, else `<XDG cache>/dataplatform/<name>`."""
    if os.environ.get(override):
        return Path(os.environ[override]).expanduser()
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "dataplatform" / name


def default_cache() -> Path:
    return user_cache("charts", CACHE_ENV)


@dataclass(frozen=True)
class CachedChart:
    """A chart of the cache: its directory and the record of where it came from."""

    chart: str
    version: str
    path: Path
    origin: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.origin["origin"])

    @property
    def lockable(self) -> bool:
        return self.kind == FROM_REPOSITORY

    def describe(self) -> str:
        """Where it came from, in one phrase: `repository https://...` or `source owner/name@ref:path`."""
        if self.kind == FROM_REPOSITORY:
            return f"repository {self.origin['repository']}"
        source = self.origin["source"]
        where = f"{source['repo']}@{source['ref']}:{source['path']}"
        if self.kind != FROM_DIRECTORY:
            return f"source {where}"
        provenance = self.origin.get("provenance")
        if not provenance:
            return f"files from {where}"
        copied = provenance["copiedFrom"]
        verified = len(provenance["verifiedAgainstUpstream"])
        return (f"files from {where}, copied from {copied['repo']}@{copied['commit']}:{copied['path']}, "
                f"declared verified against upstream: {verified} of {verified + len(provenance['notVerified'])}")


def entry_dir(cache: Path, chart: str, version: str) -> Path:
    return cache / f"{chart}-{version}"


def lookup(cache: Path, chart: str, version: str) -> CachedChart | None:
    """The cached chart, or None when the cache does not hold that version."""
    directory = entry_dir(cache, chart, version)
    record = directory / ORIGIN_FILE
    if not record.is_file() or not (directory / "Chart.yaml").is_file():
        return None
    return CachedChart(chart, version, directory, json.loads(record.read_text()))


@dataclass(frozen=True)
class Outcome:
    chart: str
    version: str
    status: str
    """`cached`, `already cached` or `could not obtain`."""
    detail: str

    def line(self) -> str:
        return f"{self.chart} {self.version}: {self.status} ({self.detail})"


class ChartUnavailableError(Exception):
    """The chart could not be obtained from one place; the message says why."""


def fill(cache: Path, pins: Iterable[ChartPaths], sources: Path | None, refresh: bool = False,
         directories: Mapping[str, Path] | None = None,
         provenance: Mapping[str, Mapping[str, Any]] | None = None) -> list[Outcome]:
    """Cache every pin: from its repository when reachable, else from the folder `directories` names for it (with
    the builder's declaration `provenance` holds for it, if any), else from `sources`; one outcome per pin."""
    cache.mkdir(parents=True, exist_ok=True)
    return [_fill_one(cache, pin, sources, refresh, (directories or {}).get(pin.chart),
                      (provenance or {}).get(pin.chart)) for pin in pins]


def _fill_one(cache: Path, pin: ChartPaths, sources: Path | None, refresh: bool, directory: Path | None,
              provenance: Mapping[str, Any] | None = None) -> Outcome:
    present = lookup(cache, pin.chart, pin.version)
    if present is not None and not refresh:
        return Outcome(pin.chart, pin.version, "already cached", present.describe())
    reasons: list[str] = []
    builds: list[Callable[[ChartPaths, Path], dict[str, Any]]] = [
        lambda pin, staging: _from_repository(pin, staging, sources)]
    if directory is not None:
        builds.append(lambda pin, staging: _from_directory(pin, staging, directory, provenance))
    builds.append(lambda pin, staging: _from_source(pin, staging, sources))
    for build in builds:
        staging = Path(tempfile.mkdtemp(prefix=f".{pin.chart}-", dir=cache))
        try:
            origin = build(pin, staging)
            _check_chart(pin, staging / "chart", origin)
            (staging / "chart" / ORIGIN_FILE).write_text(json.dumps(origin, indent=2, sort_keys=True) + "\n")
            target = entry_dir(cache, pin.chart, pin.version)
            if target.exists():
                shutil.rmtree(target)
            (staging / "chart").rename(target)
            cached = lookup(cache, pin.chart, pin.version)
            assert cached is not None
            return Outcome(pin.chart, pin.version, "cached", cached.describe())
        except ChartUnavailableError as reason:
            reasons.append(str(reason))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if present is not None:
        return Outcome(pin.chart, pin.version, "already cached",
                       f"{present.describe()}; not refreshed: {'; '.join(reasons)}")
    return Outcome(pin.chart, pin.version, "could not obtain", "; ".join(reasons))


def _from_repository(pin: ChartPaths, staging: Path, _sources: Path | None) -> dict[str, Any]:
    import helm_python

    download = staging / "download"
    download.mkdir()
    try:
        if pin.repository.startswith("oci://"):
            helm_python.pull(f"{pin.repository}/{pin.chart}", version=pin.version, destination=download)
        else:
            helm_python.pull(pin.chart, repo_url=pin.repository, version=pin.version, destination=download)
    except helm_python.HelmError as error:
        raise ChartUnavailableError(f"repository {pin.repository}: {_first_line(error)}") from None
    archives = sorted(download.glob("*.tgz"))
    if len(archives) != 1:
        raise ChartUnavailableError(f"repository {pin.repository}: the pull left {len(archives)} archives")
    data = archives[0].read_bytes()
    _unpack(data, None, staging / "chart", gzipped=True)
    return {
        "chart": pin.chart,
        "version": pin.version,
        "origin": FROM_REPOSITORY,
        "repository": pin.repository,
        "digest": f"sha256:{hashlib.sha256(data).hexdigest()}",
        "lockable": True,
    }


def _from_source(pin: ChartPaths, staging: Path, sources: Path | None) -> dict[str, Any]:
    if pin.source is None:
        raise ChartUnavailableError(f"no source recorded: {pin.no_source}")
    if sources is None:
        raise ChartUnavailableError("no source directory given (--sources, or make chart-cache SOURCES=<dir>)")
    chart = staging / "chart"
    main = _copy_source(sources, pin.source.chart, chart)
    subcharts = []
    for subchart in pin.source.subcharts:
        name = PurePosixPath(subchart.path).name
        subcharts.append(_copy_source(sources, subchart, chart / "charts" / name))
    _set_chart_fields(chart / "Chart.yaml", dict(pin.source.chart_yaml))
    return {
        "chart": pin.chart,
        "version": pin.version,
        "origin": FROM_SOURCE,
        "source": {**main, "subcharts": subcharts, "chartYaml": dict(pin.source.chart_yaml)},
        "lockable": False,
        "note": NOT_LOCKABLE,
    }


def _from_directory(pin: ChartPaths, staging: Path, directory: Path,
                    provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The chart folder a user assembled from the pin's recorded source, copied as it is, with what its builder
    declares of where the files came from."""
    if pin.source is None:
        raise ChartUnavailableError(f"folder {directory}: no source recorded for it to stand in for: {pin.no_source}")
    if not (directory / "Chart.yaml").is_file():
        raise ChartUnavailableError(f"folder {directory} holds no Chart.yaml")
    chart = staging / "chart"
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise ChartUnavailableError(f"folder {directory}: {relative} is a symbolic link; copy the file itself")
        if path.is_file() and path.name != ORIGIN_FILE:
            target = chart / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    listing = directory_listing(chart)
    where = pin.source.chart
    origin = {
        "chart": pin.chart,
        "version": pin.version,
        "origin": FROM_DIRECTORY,
        "source": {"repo": where.repo, "ref": where.ref, "path": where.path},
        "files": {"count": listing.count("\n"), "listingSha256": hashlib.sha256(listing.encode()).hexdigest()},
        "lockable": False,
        "note": NOT_LOCKABLE_FILES,
    }
    if provenance is not None:
        files = [line.split("  ./", 1)[1] for line in listing.splitlines()]
        origin["provenance"] = declared_provenance(provenance, files)
    return origin


COPIED_FROM = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)@(?P<commit>[0-9a-f]{40}):(?P<path>[^\s]+)")
DECLARED = ("declared by whoever built the folder: the cache checked only that the files it names are the folder's, "
            "each once")


def declared_provenance(declaration: Mapping[str, Any], files: Iterable[str]) -> dict[str, Any]:
    """The builder's declaration of a chart folder, checked for form: `copiedFrom` an `<owner>/<name>@<commit>:<path>`
    with a full commit, `verifiedAgainstUpstream` a map of file to how it was compared, `notVerified` a list of
    files, the two naming every file of the folder exactly once."""
    unknown = sorted(set(declaration) - {"copiedFrom", "verifiedAgainstUpstream", "notVerified"})
    if unknown:
        raise ChartUnavailableError(f"provenance: unknown keys {', '.join(unknown)}")
    copied = COPIED_FROM.fullmatch(str(declaration.get("copiedFrom", "")))
    if copied is None:
        raise ChartUnavailableError("provenance: copiedFrom must read <owner>/<name>@<40-hex commit>:<path>")
    verified = declaration.get("verifiedAgainstUpstream", {})
    not_verified = declaration.get("notVerified", [])
    if not isinstance(verified, Mapping) or not all(isinstance(how, str) and how for how in verified.values()):
        raise ChartUnavailableError("provenance: verifiedAgainstUpstream must map each file to how it was compared")
    if not isinstance(not_verified, list):
        raise ChartUnavailableError("provenance: notVerified must be a list of files")
    named = [*verified, *not_verified]
    present = set(files)
    twice = sorted({name for name in named if named.count(name) > 1})
    strangers = sorted(set(named) - present)
    silent = sorted(present - set(named))
    for problem, names in (("named twice", twice), ("not in the folder", strangers), ("not accounted for", silent)):
        if names:
            raise ChartUnavailableError(f"provenance: files {problem}: {', '.join(names)}")
    return {
        "copiedFrom": copied.groupdict(),
        "verifiedAgainstUpstream": dict(sorted(verified.items())),
        "notVerified": sorted(not_verified),
        "note": DECLARED,
    }


def directory_listing(directory: Path) -> str:
    """The listing whose sha256 a `directory` record holds: `sha256sum` lines for every file, sorted by path."""
    lines = sorted(f"./{path.relative_to(directory).as_posix()}" for path in directory.rglob("*")
                   if path.is_file() and path.name != ORIGIN_FILE)
    return "".join(f"{hashlib.sha256((directory / line[2:]).read_bytes()).hexdigest()}  {line}\n" for line in lines)


def _copy_source(sources: Path, where: SourcePath, destination: Path) -> dict[str, str]:
    """Copy `where.path` at `where.ref` from its git directory under `sources` into `destination`."""
    git_dir = _git_dir(sources, where.repo)
    commit = _git(git_dir, "rev-parse", "--verify", "--quiet", f"{where.ref}^{{commit}}").strip()
    if where.path.endswith(".tgz"):
        archive = _git_bytes(git_dir, "cat-file", "blob", f"{commit}:{where.path}")
        _unpack(archive, None, destination, gzipped=True)
    else:
        archive = _git_bytes(git_dir, "archive", "--format=tar", commit, where.path)
        _unpack(archive, f"{where.path.rstrip('/')}/", destination, gzipped=False)
    return {"repo": where.repo, "ref": where.ref, "commit": commit, "path": where.path}


def _git_dir(sources: Path, repo: str) -> Path:
    checkout = sources / repo.replace("/", "+") / "repo"
    for candidate in (checkout / ".git", checkout):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    raise ChartUnavailableError(f"no git directory for {repo} at {checkout}")


def _git(git_dir: Path, *args: str) -> str:
    return _git_bytes(git_dir, *args).decode()


def _git_bytes(git_dir: Path, *args: str) -> bytes:
    done = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode().strip() or f"git {args[0]} found nothing"
        raise ChartUnavailableError(f"{git_dir}: git {' '.join(args)}: {_first_line(message)}")
    return done.stdout


def _unpack(archive: bytes, prefix: str | None, destination: Path, gzipped: bool) -> None:
    """Extract the members under `prefix` into `destination`, without the prefix; a packaged chart (prefix None)
    holds one top-level folder, the chart's name."""
    count = 0
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz" if gzipped else "r:") as tar:
        members = tar.getmembers()
        if prefix is None:
            tops = {member.name.split("/", 1)[0] for member in members}
            if len(tops) != 1:
                raise ChartUnavailableError(f"the archive has {len(tops)} top-level entries, not one chart folder")
            prefix = f"{tops.pop()}/"
        for member in members:
            if not member.name.startswith(prefix) or member.name == prefix:
                continue
            member.name = member.name[len(prefix):]
            tar.extract(member, destination, filter="data")
            count += 1
    if count == 0:
        raise ChartUnavailableError(f"the archive holds nothing under {prefix}")


def _set_chart_fields(chart_yaml: Path, fields: dict[str, str]) -> None:
    """Set top-level Chart.yaml fields line by line, so the file stays as its authors wrote it."""
    text = chart_yaml.read_text()
    for key, value in fields.items():
        text, count = re.subn(rf"^{re.escape(key)}:.*$", f"{key}: {value}", text, flags=re.MULTILINE)
        if count != 1:
            raise ChartUnavailableError(f"Chart.yaml has {count} top-level '{key}:' lines, expected one")
    chart_yaml.write_text(text)


def _check_chart(pin: ChartPaths, directory: Path, origin: dict[str, Any]) -> None:
    """Helm must load it as the pinned chart; dependencies Chart.yaml declares but `charts/` lacks are recorded."""
    import helm_python

    try:
        with helm_python.Chart.load(directory) as chart:
            metadata, loaded = chart.metadata, chart.dependencies
    except helm_python.HelmError as error:
        raise ChartUnavailableError(f"Helm cannot load what was built: {_first_line(error)}") from None
    if metadata.get("name") != pin.chart or metadata.get("version") != pin.version:
        raise ChartUnavailableError(f"built chart is {metadata.get('name')} {metadata.get('version')}, "
                           f"not {pin.chart} {pin.version}")
    present = {dependency.get("name") for dependency in loaded}
    absent = sorted(
        dependency.get("alias") or dependency["name"]
        for dependency in metadata.get("dependencies") or []
        if dependency["name"] not in present
    )
    if absent:
        origin["absentDependencies"] = absent


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.render.cache",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help=f"cache folder (default: ${CACHE_ENV}, "
                        "else ~/.cache/dataplatform/charts)")
    parser.add_argument("--sources", type=Path, default=None,
                        help="folder of git directories laid out as <owner>+<name>/repo")
    parser.add_argument("--chart-dir", action="append", default=[], metavar="CHART=DIR",
                        help="a folder holding the chart's files copied from its recorded source (repeatable)")
    parser.add_argument("--provenance", action="append", default=[], metavar="CHART=FILE",
                        help="JSON declaring where a --chart-dir folder's files were copied from and which were "
                        "verified against upstream (repeatable)")
    parser.add_argument("--chart", action="append", default=[], help="only this chart (repeatable)")
    parser.add_argument("--refresh", action="store_true", help="obtain again charts already cached")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.chart) - set(CHARTS))
    if unknown:
        print(f"chart-cache: no pinned chart named {', '.join(unknown)} (pinned: {', '.join(sorted(CHARTS))})",
              file=sys.stderr)
        return EXIT_INPUT
    if args.sources is not None and not args.sources.is_dir():
        print(f"chart-cache: the source folder {args.sources} does not exist", file=sys.stderr)
        return EXIT_INPUT
    directories: dict[str, Path] = {}
    for assignment in args.chart_dir:
        name, _, folder = assignment.partition("=")
        if name not in CHARTS or not folder:
            print(f"chart-cache: --chart-dir {assignment}: expected CHART=DIR for a pinned chart", file=sys.stderr)
            return EXIT_INPUT
        if not Path(folder).expanduser().is_dir():
            print(f"chart-cache: the chart folder {folder} does not exist", file=sys.stderr)
            return EXIT_INPUT
        directories[name] = Path(folder).expanduser()
    provenance: dict[str, Any] = {}
    for assignment in args.provenance:
        name, _, file = assignment.partition("=")
        if name not in directories or not file:
            print(f"chart-cache: --provenance {assignment}: expected CHART=FILE for a chart given --chart-dir",
                  file=sys.stderr)
            return EXIT_INPUT
        try:
            provenance[name] = json.loads(Path(file).expanduser().read_text())
        except (OSError, ValueError) as error:
            print(f"chart-cache: --provenance {assignment}: {_first_line(error)}", file=sys.stderr)
            return EXIT_INPUT
        if not isinstance(provenance[name], dict):
            print(f"chart-cache: --provenance {assignment}: expected a JSON object", file=sys.stderr)
            return EXIT_INPUT
    cache = (args.cache or default_cache()).expanduser()
    pins = [CHARTS[name] for name in sorted(args.chart or CHARTS)]
    outcomes = fill(cache, pins, args.sources, args.refresh, directories, provenance)
    for outcome in outcomes:
        print(outcome.line())
    missing = [outcome.chart for outcome in outcomes if outcome.status == "could not obtain"]
    print(f"chart-cache {cache}: {len(outcomes) - len(missing)} of {len(outcomes)} charts cached"
          + (f"; could not obtain {', '.join(missing)}" if missing else ""))
    return EXIT_INCOMPLETE if missing else EXIT_CACHED


if __name__ == "__main__":
    sys.exit(main())
