"""The dbt runner's import script without a Superset: what it does when the presentation layer is absent, and
that it never follows a redirect with its token (the real-Superset cases are in test_superset_bundle_import.py)."""

from __future__ import annotations

import importlib.util
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.support.fake_https import serve_https
from tests.support.tls import make_pki

SCRIPT = Path(__file__).resolve().parents[2] / "images" / "dbt-runner" / "import_bundle.py"


@pytest.fixture(scope="module")
def importer():
    spec = importlib.util.spec_from_file_location("import_bundle", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Redirecting(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:
        self.seen.append(("POST", self.path))
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:9/api/v1/security/login")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path))
        body = json.dumps({"result": "token"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_without_the_presentation_layer_the_import_is_skipped(importer, tmp_path, capsys) -> None:
    environ = {"SUPERSET_URL": "https://superset.dp-presentation.svc.cluster.local:8088",
               "SUPERSET_CA_FILE": str(tmp_path / "ca.crt"), "BUNDLE_FILE": str(tmp_path / "absent.zip")}
    assert importer.main(environ) == 0
    assert capsys.readouterr().out.startswith("superset import: skipped, the presentation layer has not written")


def test_a_login_without_a_bundle_is_still_an_error(importer, tmp_path, capsys) -> None:
    environ = {"SUPERSET_URL": "https://superset:8088", "SUPERSET_CA_FILE": str(tmp_path / "ca.crt"),
               "SUPERSET_USERNAME": "bundle-importer", "SUPERSET_PASSWORD": "x", "BUNDLE_FILE": ""}
    assert importer.main(environ) == 2
    assert capsys.readouterr().err == "superset import: missing environment BUNDLE_FILE\n"


def test_a_redirect_is_refused_and_nothing_follows_it(importer, tmp_path, capsys) -> None:
    pki = make_pki(tmp_path / "pki")
    (tmp_path / "ca.crt").write_text(pki.ca_pem)
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(importer_bundle())
    Redirecting.seen = []
    with serve_https(Redirecting, pki) as url:
        environ = {"SUPERSET_URL": url, "SUPERSET_CA_FILE": str(tmp_path / "ca.crt"),
                   "SUPERSET_USERNAME": "bundle-importer", "SUPERSET_PASSWORD": "secret", "BUNDLE_FILE": str(bundle)}
        assert importer.main(environ) == 1
    assert Redirecting.seen == [("POST", "/api/v1/security/login")]
    assert capsys.readouterr().err == (
        f"superset import failed: POST {url}/api/v1/security/login was redirected (HTTP 302) to "
        "http://127.0.0.1:9/api/v1/security/login; set SUPERSET_URL to the address that answers\n"
    )


def importer_bundle() -> bytes:
    from components.presentation.spec import bundle_zip

    return bundle_zip()
