"""The chart cache is filled from a chart repository when one answers, else from source checkouts, and each entry
records where it came from; a chart built from source is never lockable."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import helm_python
import pytest

from infra.model.charts import CHARTS, ChartPaths, ChartSource, SourcePath
from infra.offline.render import cache as chart_cache

UNREACHABLE = "http://127.0.0.1:9/charts"  # the discard port: nothing answers


def git(directory: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True)


def write_chart(directory: Path, name: str, version: str, dependencies: str = "") -> None:
    (directory / "templates").mkdir(parents=True)
    (directory / "Chart.yaml").write_text(
        f"# kept as written\napiVersion: v2\nname: {name}\nversion: {version}\nappVersion: {version}\n{dependencies}")
    (directory / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n")


@pytest.fixture()
def sources(tmp_path: Path) -> Path:
    """`<owner>+<name>/repo` git directories: a clone with a work tree (the chart, its version templated at release
    as cert-manager's is) and a bare repository (a subchart kept elsewhere)."""
    root = tmp_path / "sources"
    charts = root / "acme+charts" / "repo"
    write_chart(charts / "deploy" / "demo", "demo", "v0.0.0",
                "dependencies:\n  - name: lib\n    version: 0.1.0\n  - name: absent\n    version: 1.0.0\n"
                "    condition: absent.enabled\n")
    git(charts, "init", "-q")
    git(charts, "add", ".")
    git(charts, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "demo")
    git(charts, "tag", "v1.2.3")
    work = tmp_path / "lib-work"
    write_chart(work / "lib", "lib", "0.1.0")
    git(work, "init", "-q")
    git(work, "add", ".")
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "lib")
    git(work, "tag", "lib-0.1.0")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "acme+lib" / "repo")], check=True)
    return root


def demo_pin(repository: str = UNREACHABLE, version: str = "v1.2.3") -> ChartPaths:
    return ChartPaths(
        chart="demo", version=version, repository=repository,
        source=ChartSource(SourcePath("acme/charts", "v1.2.3", "deploy/demo"),
                           subcharts=(SourcePath("acme/lib", "lib-0.1.0", "lib"),),
                           chart_yaml=(("version", "v1.2.3"), ("appVersion", "v1.2.3"))),
    )


def test_every_pin_records_its_source_or_why_it_has_none() -> None:
    for pin in CHARTS.values():
        assert (pin.source is None) != (not pin.no_source), pin.chart


def test_the_default_cache_is_outside_the_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(chart_cache.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert chart_cache.default_cache() == Path.home() / ".cache" / "dataplatform" / "charts"
    monkeypatch.setenv(chart_cache.CACHE_ENV, str(tmp_path))
    assert chart_cache.default_cache() == tmp_path


def test_an_unreachable_repository_falls_back_to_the_source(sources: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    [outcome] = chart_cache.fill(cache, [demo_pin()], sources)
    assert (outcome.status, outcome.detail) == ("cached", "source acme/charts@v1.2.3:deploy/demo")
    cached = chart_cache.lookup(cache, "demo", "v1.2.3")
    assert cached is not None and not cached.lockable
    origin = cached.origin
    assert origin["note"] == chart_cache.NOT_LOCKABLE
    assert len(origin["source"]["commit"]) == 40
    assert [sub["repo"] for sub in origin["source"]["subcharts"]] == ["acme/lib"]
    assert origin["absentDependencies"] == ["absent"]
    chart_yaml = (cached.path / "Chart.yaml").read_text()
    assert chart_yaml.startswith("# kept as written\n") and "version: v1.2.3\nappVersion: v1.2.3\n" in chart_yaml
    assert (cached.path / "charts" / "lib" / "Chart.yaml").is_file()
    with helm_python.Chart.load(cached.path) as chart:
        assert [dependency["name"] for dependency in chart.dependencies] == ["lib"]
    assert sorted(path.name for path in cache.iterdir()) == ["demo-v1.2.3"], "no staging left behind"


def test_a_cached_chart_is_kept_unless_refreshed(sources: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    chart_cache.fill(cache, [demo_pin()], sources)
    [again] = chart_cache.fill(cache, [demo_pin()], None)
    assert again.status == "already cached"
    [refreshed] = chart_cache.fill(cache, [demo_pin()], sources, refresh=True)
    assert refreshed.status == "cached"


def test_what_cannot_be_obtained_says_why(sources: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    missing_source = ChartPaths(chart="demo", version="v1.2.3", repository=UNREACHABLE,
                                source=ChartSource(SourcePath("acme/gone", "v1", "demo")))
    no_source = ChartPaths(chart="other", version="1.0.0", repository=UNREACHABLE, no_source="too large here")
    wrong_version = demo_pin(version="v9.9.9")
    outcomes = chart_cache.fill(cache, [missing_source, no_source, wrong_version], sources)
    assert [outcome.status for outcome in outcomes] == ["could not obtain"] * 3
    assert f"repository {UNREACHABLE}:" in outcomes[0].detail
    assert "no git directory for acme/gone" in outcomes[0].detail
    assert "no source recorded: too large here" in outcomes[1].detail
    assert "built chart is demo v1.2.3, not demo v9.9.9" in outcomes[2].detail
    assert list(cache.iterdir()) == []
    [without_sources] = chart_cache.fill(cache, [demo_pin()], None)
    assert "no source directory given" in without_sources.detail


@pytest.fixture()
def repository(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A chart repository served over HTTP from a folder: the demo chart packaged and indexed, as Helm serves."""
    served = tmp_path / "served"
    served.mkdir()
    write_chart(tmp_path / "demo-src" / "demo", "demo", "v1.2.3")
    archive = Path(helm_python.package(tmp_path / "demo-src" / "demo", destination=served))
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    helm_python.repo_index_generate(served, base_url=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url, archive
    finally:
        server.shutdown()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_reachable_repository_wins_and_its_archive_is_hashed(repository: tuple[str, Path], sources: Path,
                                                               tmp_path: Path) -> None:
    url, archive = repository
    cache = tmp_path / "cache"
    [outcome] = chart_cache.fill(cache, [demo_pin(url)], sources)
    assert (outcome.status, outcome.detail) == ("cached", f"repository {url}")
    cached = chart_cache.lookup(cache, "demo", "v1.2.3")
    assert cached is not None and cached.lockable
    assert cached.origin["digest"] == f"sha256:{hashlib.sha256(archive.read_bytes()).hexdigest()}"
    assert "source" not in cached.origin


def test_the_command_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert chart_cache.main(["--cache", str(tmp_path), "--chart", "nosuchchart"]) == chart_cache.EXIT_INPUT
    assert chart_cache.main(["--cache", str(tmp_path), "--sources", str(tmp_path / "absent")]) == \
        chart_cache.EXIT_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_the_command_reports_each_chart_and_exits_1_when_one_is_missing(
        sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_cache, "CHARTS", {"demo": demo_pin(), "other": ChartPaths(
        chart="other", version="1.0.0", repository=UNREACHABLE, no_source="too large here")})
    code = chart_cache.main(["--cache", str(tmp_path / "cache"), "--sources", str(sources)])
    lines = capsys.readouterr().out.splitlines()
    assert code == chart_cache.EXIT_INCOMPLETE
    assert lines[0] == "demo v1.2.3: cached (source acme/charts@v1.2.3:deploy/demo)"
    assert lines[1].startswith("other 1.0.0: could not obtain (repository http://127.0.0.1:9/charts: ")
    assert lines[2] == f"chart-cache {tmp_path / 'cache'}: 1 of 2 charts cached; could not obtain other"
    assert json.loads((tmp_path / "cache" / "demo-v1.2.3" / ".origin.json").read_text())["origin"] == "source"
