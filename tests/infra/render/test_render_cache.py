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


def files_folder(tmp_path: Path, version: str = "v1.2.3") -> Path:
    """A chart folder as a user assembles it file by file from the pin's source (no git, no package)."""
    folder = tmp_path / "copied" / "demo"
    write_chart(folder, "demo", version)
    (folder / "values.yaml").write_text("replicas: 1\n")
    return folder


def test_a_named_folder_stands_in_when_the_repository_is_unreachable(tmp_path: Path) -> None:
    folder = files_folder(tmp_path)
    cache = tmp_path / "cache"
    [outcome] = chart_cache.fill(cache, [demo_pin()], None, directories={"demo": folder})
    assert (outcome.status, outcome.detail) == ("cached", "files from acme/charts@v1.2.3:deploy/demo")
    cached = chart_cache.lookup(cache, "demo", "v1.2.3")
    assert cached is not None and not cached.lockable and cached.kind == chart_cache.FROM_DIRECTORY
    assert cached.origin["source"] == {"repo": "acme/charts", "ref": "v1.2.3", "path": "deploy/demo"}
    assert cached.origin["note"] == chart_cache.NOT_LOCKABLE_FILES and "digest" not in cached.origin
    # The record holds the sha256 of the files' `sha256sum` listing, so anyone can compare a copy with it.
    listing = subprocess.run("find . -type f ! -name .origin.json | sort | xargs sha256sum", shell=True,
                             cwd=folder, capture_output=True, text=True, check=True).stdout
    assert listing == chart_cache.directory_listing(folder)
    assert cached.origin["files"] == {"count": 3, "listingSha256": hashlib.sha256(listing.encode()).hexdigest()}
    assert (cached.path / "values.yaml").read_text() == "replicas: 1\n"
    with helm_python.Chart.load(cached.path) as chart:
        assert chart.metadata["version"] == "v1.2.3"


def test_a_reachable_repository_wins_over_a_named_folder(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = repository
    [outcome] = chart_cache.fill(tmp_path / "cache", [demo_pin(url)], None,
                                 directories={"demo": files_folder(tmp_path)})
    assert (outcome.status, outcome.detail) == ("cached", f"repository {url}")


def test_a_named_folder_must_hold_the_pinned_chart_of_a_recorded_source(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    [wrong] = chart_cache.fill(cache, [demo_pin()], None, directories={"demo": files_folder(tmp_path, "v9.9.9")})
    assert wrong.status == "could not obtain" and "built chart is demo v9.9.9, not demo v1.2.3" in wrong.detail
    empty = tmp_path / "empty"
    empty.mkdir()
    [nothing] = chart_cache.fill(cache, [demo_pin()], None, directories={"demo": empty})
    assert f"folder {empty} holds no Chart.yaml" in nothing.detail
    linked = files_folder(tmp_path / "linked")
    (linked / "link.yaml").symlink_to(linked / "values.yaml")
    [refused] = chart_cache.fill(cache, [demo_pin()], None, directories={"demo": linked})
    assert "link.yaml is a symbolic link" in refused.detail
    unsourced = ChartPaths(chart="demo", version="v1.2.3", repository=UNREACHABLE, no_source="too large here")
    [without] = chart_cache.fill(cache, [unsourced], None, directories={"demo": files_folder(tmp_path / "u")})
    assert "no source recorded for it to stand in for: too large here" in without.detail
    assert list(cache.iterdir()) == []


def test_the_command_takes_a_chart_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_cache, "CHARTS", {"demo": demo_pin()})
    folder = files_folder(tmp_path)
    assert chart_cache.main(["--cache", str(tmp_path / "cache"), "--chart-dir", f"demo={folder}"]) == \
        chart_cache.EXIT_CACHED
    assert capsys.readouterr().out.splitlines()[0] == "demo v1.2.3: cached (files from acme/charts@v1.2.3:deploy/demo)"
    assert chart_cache.main(["--cache", str(tmp_path), "--chart-dir", f"other={folder}"]) == chart_cache.EXIT_INPUT
    assert chart_cache.main(["--cache", str(tmp_path), "--chart-dir", f"demo={tmp_path / 'absent'}"]) == \
        chart_cache.EXIT_INPUT
    assert "does not exist" in capsys.readouterr().err


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_a_named_folder_records_what_its_builder_declares_of_its_files(tmp_path: Path) -> None:
    folder = files_folder(tmp_path)
    declaration = {"copiedFrom": f"someone/vendor@{COMMIT}:charts/demo",
                   "verifiedAgainstUpstream": {"values.yaml": "equal to acme/charts@v1.2.3:deploy/demo/values.yaml",
                                               "Chart.yaml": "equal to upstream's at the release commit"},
                   "notVerified": ["templates/configmap.yaml"]}
    cache = tmp_path / "cache"
    [outcome] = chart_cache.fill(cache, [demo_pin()], None, directories={"demo": folder},
                                 provenance={"demo": declaration})
    assert (outcome.status, outcome.detail) == (
        "cached", f"files from acme/charts@v1.2.3:deploy/demo, copied from someone/vendor@{COMMIT}:charts/demo, "
                  "declared verified against upstream: 2 of 3")
    cached = chart_cache.lookup(cache, "demo", "v1.2.3")
    assert cached is not None and not cached.lockable
    assert cached.origin["provenance"] == {
        "copiedFrom": {"repo": "someone/vendor", "commit": COMMIT, "path": "charts/demo"},
        "verifiedAgainstUpstream": dict(sorted(declaration["verifiedAgainstUpstream"].items())),
        "notVerified": ["templates/configmap.yaml"],
        "note": chart_cache.DECLARED,
    }


@pytest.mark.parametrize(("change", "reason"), [
    ({"copiedFrom": "someone/vendor@main:charts/demo"}, "copiedFrom must read"),
    ({"notVerified": []}, "files not accounted for: templates/configmap.yaml"),
    ({"notVerified": ["templates/configmap.yaml", "values.yaml"]}, "files named twice: values.yaml"),
    ({"notVerified": ["templates/configmap.yaml", "README.md"]}, "files not in the folder: README.md"),
    ({"verifiedAgainstUpstream": {"Chart.yaml": "", "values.yaml": "equal"}}, "how it was compared"),
    ({"checkedBy": "me"}, "unknown keys checkedBy"),
])
def test_a_declaration_that_does_not_account_for_the_folder_is_refused(tmp_path: Path, change: dict[str, object],
                                                                       reason: str) -> None:
    declaration = {"copiedFrom": f"someone/vendor@{COMMIT}:charts/demo",
                   "verifiedAgainstUpstream": {"Chart.yaml": "equal", "values.yaml": "equal"},
                   "notVerified": ["templates/configmap.yaml"], **change}
    cache = tmp_path / "cache"
    [outcome] = chart_cache.fill(cache, [demo_pin()], None, directories={"demo": files_folder(tmp_path)},
                                 provenance={"demo": declaration})
    assert outcome.status == "could not obtain" and reason in outcome.detail
    assert list(cache.iterdir()) == []


def test_the_command_takes_a_declaration_only_for_a_chart_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_cache, "CHARTS", {"demo": demo_pin()})
    folder = files_folder(tmp_path)
    declaration = tmp_path / "provenance.json"
    declaration.write_text(json.dumps({"copiedFrom": f"someone/vendor@{COMMIT}:charts/demo",
                                       "notVerified": ["Chart.yaml", "templates/configmap.yaml", "values.yaml"]}))
    assert chart_cache.main(["--cache", str(tmp_path / "cache"), "--provenance", f"demo={declaration}"]) == \
        chart_cache.EXIT_INPUT
    assert "for a chart given --chart-dir" in capsys.readouterr().err
    assert chart_cache.main(["--cache", str(tmp_path / "cache"), "--chart-dir", f"demo={folder}",
                             "--provenance", f"demo={tmp_path / 'absent.json'}"]) == chart_cache.EXIT_INPUT
    assert chart_cache.main(["--cache", str(tmp_path / "cache"), "--chart-dir", f"demo={folder}",
                             "--provenance", f"demo={declaration}"]) == chart_cache.EXIT_CACHED
    assert capsys.readouterr().out.splitlines()[0].endswith("declared verified against upstream: 0 of 3)")
