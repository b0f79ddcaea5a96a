"""Prometheus's authenticating TLS front, run for real: Debian's nginx with the configuration the runtime renders
(components/runtime/prometheus_front.py) in front of Debian's Prometheus serving TLS on loopback with the web
configuration the Prometheus Operator writes for the platform's `web.tlsConfig` (a `tls_server_config` of a certificate
and a key: prometheus-operator/prometheus-operator/pkg/webconfig/config.go@v0.93.0), which `promtool check web-config`
accepts first. The login is a bcrypt hash as pulumi-random's `bcrypt_hash` writes one (`$2a$`, cost 10).

What this proves: a reader needs its login, a wrong one is refused, queries (GET and POST) pass, the admin and
lifecycle endpoints and every path outside the query API are refused, the reader's credentials do not reach
Prometheus, and the front verifies Prometheus's certificate by name (a name the certificate lacks gives 502). What it
does not: the nginx is Debian's 1.22 where the image runs 1.27 (the directives used are older than both), and the pod
wiring (volumes, Service port) is checked by the golden values and the render, not here."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.runtime import prometheus_front
from tests.components.test_alert_delivery import free_port, start, wait_for
from tests.support import tls
from tests.support.system import require

BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
USER, PASSWORD = "team-grafana", "s3cret-reader-password-0123456789abcdef"


def bcrypt_hash(password: str) -> str:
    """`$2a$10$<salt><hash>`, the form pulumi-random gives (Go's bcrypt at its default cost)."""
    with warnings.catch_warnings():  # Python 3.11's binding of libcrypt, the crypt(3) nginx checks logins with
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt as libcrypt

    salt = "$2a$10$" + "".join(secrets.choice(BCRYPT_ALPHABET) for _ in range(22))
    hashed = libcrypt.crypt(password, salt)
    assert hashed and hashed.startswith("$2a$10$"), "this libcrypt has no bcrypt"
    return hashed


def nginx_main(folder: Path, server: str) -> str:
    """A minimal nginx.conf around the front's server block, as the image's includes `conf.d/*.conf`."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                             "scgi"))
    return (f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} info;\n"
            f"events {{ worker_connections 64; }}\nhttp {{\n    access_log {folder / 'access.log'};\n{temp}\n"
            f"    include {server};\n}}\n")


def request(port: int, ca_file: Path, path: str, method: str = "GET", login: tuple[str, str] | None = None,
            body: dict[str, str] | None = None) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(ca_file))
    data = urllib.parse.urlencode(body).encode() if body is not None else None
    sent = urllib.request.Request(f"https://localhost:{port}{path}", data=data, method=method)
    if login is not None:
        sent.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    try:
        with urllib.request.urlopen(sent, context=context, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def prometheus(tmp_path) -> Iterator[tuple[int, tls.TestPki, Path]]:
    """Debian's Prometheus on loopback, serving HTTPS only, with its lifecycle API on (as the operator runs it)."""
    require("promtool")
    pki = tls.make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(pki.cert_file),
                                                         "key_file": str(pki.key_file)}}))
    checked = subprocess.run(["promtool", "check", "web-config", str(web)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"global": {"scrape_interval": "1h"}}))
    port = free_port()
    log = tmp_path / "prometheus.log"
    process = start([shutil.which("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                     f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address=127.0.0.1:{port}",
                     f"--web.config.file={web}", "--web.enable-lifecycle"], log)
    ca_file = tmp_path / "pki" / "ca.pem"

    def ready() -> bool:
        try:
            return request(port, ca_file, "/-/ready")[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, "Prometheus did not serve HTTPS", [log])
        yield port, pki, log
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_front(tmp_path: Path, name: str, upstream: int, pki: tls.TestPki, server_name: str) -> tuple[int, Path]:
    """The rendered front in Debian's nginx, `nginx -t` first; the port it listens on."""
    require("nginx")
    folder = tmp_path / name
    for part in ("tls", "auth", "ca", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / part).mkdir(parents=True)
    shutil.copy(pki.cert_file, folder / "tls" / "tls.crt")
    shutil.copy(pki.key_file, folder / "tls" / "tls.key")
    (folder / "ca" / "ca.crt").write_text(pki.ca_pem)
    (folder / "auth" / prometheus_front.HTPASSWD_KEY).write_text(
        prometheus_front.htpasswd_line(USER, bcrypt_hash(PASSWORD)) + "\n")
    port = free_port()
    server = folder / prometheus_front.CONFIG_KEY
    server.write_text(prometheus_front.nginx_conf(tls_dir=str(folder / "tls"), auth_dir=str(folder / "auth"),
                                                  ca_dir=str(folder / "ca"), port=port, upstream_port=upstream,
                                                  server_name=server_name))
    main = folder / "nginx.conf"
    main.write_text(nginx_main(folder, str(server)))
    nginx = shutil.which("nginx")
    tested = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(folder)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stderr
    subprocess.run([nginx, "-c", str(main), "-p", str(folder)], check=True, capture_output=True)
    return port, folder


def stop_front(folder: Path) -> None:
    pid = folder / "nginx.pid"
    if pid.exists():
        subprocess.run([shutil.which("nginx"), "-c", str(folder / "nginx.conf"), "-p", str(folder), "-s", "stop"],
                       capture_output=True)


def test_the_front_asks_a_login_passes_queries_and_refuses_the_rest(tmp_path, prometheus):
    upstream, pki, _ = prometheus
    ca_file = tmp_path / "pki" / "ca.pem"
    port, folder = run_front(tmp_path, "front", upstream, pki, server_name="localhost")
    try:
        query = "/api/v1/query?query=vector(1)"
        assert request(port, ca_file, query)[0] == 401
        assert request(port, ca_file, query, login=(USER, PASSWORD + "x"))[0] == 401
        assert request(port, ca_file, query, login=("someone-else", PASSWORD))[0] == 401
        status, body = request(port, ca_file, query, login=(USER, PASSWORD))
        assert status == 200 and json.loads(body)["status"] == "success", body
        status, body = request(port, ca_file, "/api/v1/query", "POST", (USER, PASSWORD), {"query": "vector(2)"})
        assert status == 200 and json.loads(body)["data"]["result"][0]["value"][1] == "2", body
        assert request(port, ca_file, "/api/v1/status/buildinfo", login=(USER, PASSWORD))[0] == 200
        # Writing or administering Prometheus, and anything outside the query API, is not the readers'.
        assert request(port, ca_file, "/api/v1/admin/tsdb/snapshot", "POST", (USER, PASSWORD), {})[0] == 403
        assert request(port, ca_file, "/api/v1/series?match[]=up", "DELETE", (USER, PASSWORD))[0] == 403
        for path in ("/-/quit", "/-/reload"):
            assert request(port, ca_file, path, "POST", (USER, PASSWORD), {})[0] == 404
        assert request(port, ca_file, "/graph", login=(USER, PASSWORD))[0] == 404
        # Prometheus itself is still up: the lifecycle endpoints were never reached.
        assert request(upstream, ca_file, "/-/ready")[0] == 200
    finally:
        stop_front(folder)


def test_the_front_verifies_prometheus_certificate_by_name(tmp_path, prometheus):
    upstream, pki, _ = prometheus
    ca_file = tmp_path / "pki" / "ca.pem"
    # The platform's name, which this test's certificate (localhost, 127.0.0.1) does not carry.
    port, folder = run_front(tmp_path, "front-wrong-name", upstream, pki, server_name=prometheus_front.SERVER_NAME)
    try:
        assert request(port, ca_file, "/api/v1/query?query=vector(1)", login=(USER, PASSWORD))[0] == 502
        assert "certificate" in (folder / "error.log").read_text()
    finally:
        stop_front(folder)


def test_a_login_is_one_line_nginx_can_read():
    assert prometheus_front.htpasswd_line("team-grafana", "$2a$10$abc") == "team-grafana:$2a$10$abc"
    for name, hashed in (("a:b", "$2a$10$abc"), ("team grafana", "$2a$10$abc"), ("team", "$2a$10$a\nb")):
        with pytest.raises(ValueError, match="not a login nginx can read"):
            prometheus_front.htpasswd_line(name, hashed)
