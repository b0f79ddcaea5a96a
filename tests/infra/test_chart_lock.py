"""Proves the chart lock matches the pins, and that `make chart-lock` reads digests only from published sources."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from infra.model.charts import CHARTS, LOCK_FILE, ChartPaths
from infra.offline import chart_lock

VALKEY = ChartPaths(chart="valkey", version="0.11.0", repository="https://valkey.example/charts",
                    pages="example/valkey-helm@gh-pages")
DIGEST = "ab" * 32
OTHER_DIGEST = "cd" * 32


def index_yaml(chart: str = "valkey", versions: dict[str, str] | None = None) -> bytes:
    versions = versions if versions is not None else {"0.10.0": "00" * 32, "0.11.0": DIGEST}
    entries = [{"name": chart, "version": version, "digest": digest, "urls": [f"{chart}-{version}.tgz"]}
               for version, digest in versions.items()]
    index = {"apiVersion": "v1", "entries": {chart: entries}, "generated": "2026-07-22T12:57:35Z"}
    return yaml.safe_dump(index).encode()


def packaged(name: str, version: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in ((f"{name}/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: {version}\n"),
                           (f"{name}/values.yaml", "{}\n")):
            data = text.encode()
            member = tarfile.TarInfo(path)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def commit_files(clone: Path, branch: str, files: dict[str, bytes]) -> str:
    """A commit on `branch` of a fresh repository at `clone` holding `files`; its sha."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(clone), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    clone.mkdir()
    git("init", "--quiet", "--initial-branch", branch)
    for name, content in files.items():
        (clone / name).write_bytes(content)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "--quiet", "-m", "publish")
    return git("rev-parse", "HEAD")


def unreachable(url: str) -> bytes:
    raise chart_lock.SourceError(f"{url} could not be read (no network)")


def run(tmp_path: Path, *args: str, lock: dict | None = None, fetcher=unreachable) -> tuple[int, dict]:
    path = tmp_path / "charts.lock.json"
    if lock is not None:
        path.write_text(chart_lock.render(lock))
    code = chart_lock.main([*args, "--lock", str(path)], charts={"valkey": VALKEY}, fetcher=fetcher)
    return code, json.loads(path.read_text()) if path.exists() else {}


# ---- the committed lock ------------------------------------------------------------------------------------------


def test_committed_lock_matches_the_pins() -> None:
    assert chart_lock.problems(chart_lock.read_lock(LOCK_FILE), CHARTS) == []


def test_every_resolved_digest_is_a_sha256_read_from_a_published_source() -> None:
    lock = chart_lock.read_lock(LOCK_FILE)
    resolved = {name: entry for name, entry in lock.items() if entry["digest"] is not None}
    assert resolved, "no chart is resolved"
    for name, entry in resolved.items():
        assert chart_lock.DIGEST.match(entry["digest"]), name
        source = entry["source"]
        assert source["kind"] in ("index", "package"), name
        # A package is hashed only from the git tree the repository serves, never from a file built here.
        if source["kind"] == "package":
            assert {"git", "ref", "commit", "path"} <= set(source), name
    for name, entry in lock.items():
        if entry["digest"] is None:
            assert entry["unresolved"].strip(), name


def test_check_reports_each_way_the_lock_goes_stale_and_changes_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "charts.lock.json"
    stale = {
        "valkey": {"repository": VALKEY.repository, "name": "valkey", "version": "0.10.0", "digest": None,
                   "unresolved": "offline"},
        "retired": {"repository": "https://x.example", "name": "retired", "version": "1.0.0", "digest": "sha256:12",
                    "source": {"kind": "index"}},
    }
    path.write_text(chart_lock.render(stale))
    before = path.read_text()
    charts = {"valkey": VALKEY, "minio": ChartPaths(chart="minio", version="5.4.0", repository="https://m.example")}
    assert chart_lock.main(["--check", "--lock", str(path)], charts=charts) == 1
    assert path.read_text() == before
    assert capsys.readouterr().out.splitlines() == [
        "charts.lock.json: minio: pinned (5.4.0) but not in the lock",
        "charts.lock.json: retired: locked but not pinned in infra/model/charts.py",
        "charts.lock.json: valkey: the lock has version '0.10.0', the pin '0.11.0'",
    ]


def test_check_refuses_a_digest_that_is_not_a_sha256_or_has_no_source() -> None:
    entry = {"repository": VALKEY.repository, "name": "valkey", "version": "0.11.0"}
    assert chart_lock.problems({"valkey": {**entry, "digest": "md5:00"}}, {"valkey": VALKEY}) == [
        "valkey: digest 'md5:00' is not sha256:<64 hex digits>"]
    assert chart_lock.problems({"valkey": {**entry, "digest": f"sha256:{DIGEST}"}}, {"valkey": VALKEY}) == [
        "valkey: digest without its source (kind one of index, package)"]
    assert chart_lock.problems({"valkey": {**entry, "digest": None}}, {"valkey": VALKEY}) == [
        "valkey: no digest and no reason it is unresolved"]


# ---- sources -----------------------------------------------------------------------------------------------------


def test_an_index_file_resolves_the_pinned_version(tmp_path: Path, capsys) -> None:
    index = tmp_path / "index.yaml"
    index.write_bytes(index_yaml())
    code, lock = run(tmp_path, "--index", f"valkey={index}")
    assert code == 0
    assert lock["valkey"] == {
        "repository": VALKEY.repository, "name": "valkey", "version": "0.11.0", "digest": f"sha256:{DIGEST}",
        "source": {"kind": "index", "file": "index.yaml", "fileSha256": hashlib.sha256(index_yaml()).hexdigest(),
                   "generated": "2026-07-22T12:57:35Z"}}
    assert capsys.readouterr().out.splitlines()[0] == (
        f"valkey 0.11.0: sha256:{DIGEST} from the index file index.yaml")


def test_a_clone_is_read_at_the_branch_the_repository_serves(tmp_path: Path) -> None:
    commit = commit_files(tmp_path / "clone", "gh-pages", {"index.yaml": index_yaml()})
    code, lock = run(tmp_path, "--index", f"valkey={tmp_path / 'clone'}")
    assert code == 0
    assert lock["valkey"]["source"] == {"kind": "index", "git": "example/valkey-helm", "ref": "gh-pages",
                                        "commit": commit, "path": "index.yaml", "generated": "2026-07-22T12:57:35Z"}


def test_a_published_package_in_a_clone_is_hashed_after_its_chart_yaml_is_checked(tmp_path: Path) -> None:
    package = packaged("valkey", "0.11.0")
    commit = commit_files(tmp_path / "clone", "main", {"valkey-0.11.0.tgz": package,
                                                        "valkey-0.10.0.tgz": packaged("valkey", "0.10.0")})
    code, lock = run(tmp_path, "--package", f"valkey={tmp_path / 'clone'}@main:valkey-0.11.0.tgz")
    assert code == 0
    assert lock["valkey"]["digest"] == f"sha256:{hashlib.sha256(package).hexdigest()}"
    assert lock["valkey"]["source"] == {"kind": "package", "git": "example/valkey-helm", "ref": "main",
                                        "commit": commit, "path": "valkey-0.11.0.tgz"}
    code, lock = run(tmp_path, "--package", f"valkey={tmp_path / 'clone'}@main:valkey-0.10.0.tgz", lock={})
    assert code == 1
    assert lock["valkey"]["digest"] is None
    assert "is valkey 0.10.0, not the pinned valkey 0.11.0" in lock["valkey"]["unresolved"]


def test_a_package_file_outside_a_clone_is_never_hashed(tmp_path: Path) -> None:
    built = tmp_path / "valkey-0.11.0.tgz"
    built.write_bytes(packaged("valkey", "0.11.0"))
    code, lock = run(tmp_path, "--package", f"valkey={built}")
    assert code == 0
    assert lock["valkey"]["digest"] is None
    assert "a package built here is never hashed" in lock["valkey"]["unresolved"]


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    """A chart repository over HTTP on localhost: `<url>/index.yaml`."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.yaml").write_bytes(index_yaml())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_reachable_repository_is_read_over_http(tmp_path: Path, served: str) -> None:
    chart = ChartPaths(chart="valkey", version="0.11.0", repository=f"{served}/")
    outcome = chart_lock.update({}, {"valkey": chart}, {}, {})
    assert outcome.errors == 0
    assert outcome.lock["valkey"]["digest"] == f"sha256:{DIGEST}"
    assert outcome.lock["valkey"]["source"] == {"kind": "index", "url": f"{served}/index.yaml",
                                                "generated": "2026-07-22T12:57:35Z"}
    missing = ChartPaths(chart="valkey", version="0.11.0", repository=f"{served}/absent")
    outcome = chart_lock.update({}, {"valkey": missing}, {}, {})
    assert outcome.lock["valkey"]["unresolved"].startswith(f"{served}/absent/index.yaml answered HTTP 404; ")


# ---- what a run may and may not change ---------------------------------------------------------------------------


def test_an_unreachable_repository_keeps_a_resolved_digest_and_explains_an_unresolved_one(tmp_path: Path) -> None:
    code, lock = run(tmp_path, lock={})
    assert code == 0
    assert lock["valkey"]["digest"] is None
    assert lock["valkey"]["unresolved"] == (
        "https://valkey.example/charts/index.yaml could not be read (no network); run `make chart-lock` where its "
        "repository is reachable, or give the index of a complete clone of example/valkey-helm "
        "(--index valkey=<clone>, branch gh-pages)")
    resolved = chart_lock.resolved_entry(VALKEY, chart_lock.Found(f"sha256:{DIGEST}", {"kind": "index", "url": "u"}))
    code, lock = run(tmp_path, lock={"valkey": resolved})
    assert (code, lock["valkey"]) == (0, resolved)


def test_a_new_version_drops_the_old_digest(tmp_path: Path) -> None:
    old = {**chart_lock.resolved_entry(VALKEY, chart_lock.Found(f"sha256:{DIGEST}", {"kind": "index", "url": "u"})),
           "version": "0.10.0"}
    code, lock = run(tmp_path, lock={"valkey": old})
    assert (code, lock["valkey"]["version"], lock["valkey"]["digest"]) == (0, "0.11.0", None)


def test_a_republished_chart_is_an_error_and_the_locked_digest_stays(tmp_path: Path, capsys) -> None:
    index = tmp_path / "index.yaml"
    index.write_bytes(index_yaml(versions={"0.11.0": OTHER_DIGEST}))
    resolved = chart_lock.resolved_entry(VALKEY, chart_lock.Found(f"sha256:{DIGEST}", {"kind": "index", "url": "u"}))
    code, lock = run(tmp_path, "--index", f"valkey={index}", lock={"valkey": resolved})
    assert (code, lock["valkey"]) == (1, resolved)
    assert "the chart was republished" in capsys.readouterr().out


def test_a_version_the_index_does_not_list_is_an_error(tmp_path: Path, capsys) -> None:
    index = tmp_path / "index.yaml"
    index.write_bytes(index_yaml(versions={"0.10.0": "00" * 32, "0.12.0": "11" * 32}))
    code, lock = run(tmp_path, "--index", f"valkey={index}", lock={})
    assert code == 1
    assert lock["valkey"]["unresolved"] == "index.yaml does not list valkey 0.11.0 (its latest: 0.10.0, 0.12.0)"
    assert "valkey 0.11.0: ERROR index.yaml does not list valkey 0.11.0" in capsys.readouterr().out


def test_a_source_for_a_chart_that_is_not_pinned_is_a_usage_error(tmp_path: Path, capsys) -> None:
    code, _ = run(tmp_path, "--index", "nginx=index.yaml")
    assert code == 2
    assert "nginx is not a pinned chart (valkey)" in capsys.readouterr().err


def test_every_pinned_repository_is_https() -> None:
    assert [name for name, chart in CHARTS.items() if not chart.repository.startswith("https://")] == []
