"""The backup job's script (components/lakehouse/dremio_backup.py), run as the CronJob runs it, against the Dremio
fake over TLS: the calls dremio-admin's backup command makes, the administrator's login, where Dremio writes,
verified TLS, and the exit status for each way it can fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from components.lakehouse import spec
from components.lakehouse.dremio_backup import backup_options
from tests.support.dremio_server import BACKUP_OPTION_FIELDS, FakeDremio
from tests.support.tls import make_pki

ADMIN, PASSWORD = "platform-admin", "Adm1nPassw0rd0000"
BUCKET = "dataplatform-dev-backups"


@pytest.fixture(params=["community", "enterprise"])
def server(request, pki):
    with FakeDremio.start(pki, edition=request.param) as fake:
        status, _ = fake.handle("PUT", "/apiv2/bootstrap/firstuser", {}, json.dumps(
            {"userName": ADMIN, "firstName": "platform", "lastName": "admin", "email": "admin@platform.invalid",
             "password": PASSWORD}).encode())
        assert status == 200
        yield fake


@pytest.fixture
def ca_file(pki, tmp_path) -> str:
    """The stack's CA as the job's Secret mounts it: a PEM file."""
    path = tmp_path / "ca.crt"
    path.write_text(pki.ca_pem)
    return str(path)


def job_environment(server, ca_file: str, **overrides: str) -> dict[str, str]:
    """The CronJob's container environment (spec.backup_environment), the Secret's values filled in, pointed at the
    fake instead of the in-cluster service."""
    environment = {}
    for item in spec.backup_environment(BUCKET):
        if "value" in item:
            environment[item["name"]] = item["value"]
        else:
            key = item["valueFrom"]["secretKeyRef"]["key"]
            environment[item["name"]] = {"username": ADMIN, "password": PASSWORD}[key]
    environment["DREMIO_URL"] = server.url
    environment["DREMIO_CA_FILE"] = ca_file
    environment.update(overrides)
    return environment


def run_script(environment: dict[str, str]) -> subprocess.CompletedProcess:
    """The file the ConfigMap carries, run as `python <file>` with only the job's environment."""
    return subprocess.run([sys.executable, str(spec.BACKUP_SCRIPT_SOURCE)], env={"PATH": os.environ["PATH"],
                                                                               **environment},
                          capture_output=True, text=True, timeout=60)


def test_the_job_asks_the_coordinator_for_a_backup_under_the_buckets_dremio_prefix(server, ca_file):
    before = time.gmtime()
    result = run_script(job_environment(server, ca_file))
    assert result.returncode == 0, result.stderr
    (backup,) = server.backups
    # Exactly the six BackupOptions fields dremio-admin sends, with its defaults.
    assert backup["options"] == {"backupDir": f"dremioS3:///{BUCKET}/dremio", "binary": True,
                                 "includeProfiles": False, "compression": "", "table": "", "key": ""}
    assert set(backup["options"]) == BACKUP_OPTION_FIELDS
    assert backup["caller"] == ADMIN
    path = backup["stats"]["backupPath"]
    assert path.startswith(f"/{BUCKET}/dremio/dremio_backup_{time.strftime('%Y-%m-%d', before)}_")
    assert result.stdout.strip() == (f"dremio-backup: wrote dremioS3://{path}: {backup['stats']['tables']} KV store "
                                     "tables, 0 files")
    # The backup holds the KV store as it was (the administrator the bootstrap created).
    assert [user["name"] for user in backup["stores"]["users"].values()] == [ADMIN]
    # Login, backup, logout; the token is given back.
    assert [(r.method, r.path) for r in server.requests if r.path != "/apiv2/bootstrap/firstuser"] == [
        ("POST", "/apiv2/login"), ("POST", "/apiv2/backup"), ("DELETE", "/apiv2/login")]
    assert server.tokens == {}


def test_a_wrong_password_fails_the_job_and_writes_nothing(server, ca_file):
    result = run_script(job_environment(server, ca_file, DREMIO_PASSWORD="not-the-passw0rd"))
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr and "Invalid username or password" in result.stderr
    assert server.backups == []


def test_tls_is_verified_against_the_stacks_ca(server, ca_file, tmp_path):
    other = make_pki(tmp_path / "other", common_name="another-ca")
    (tmp_path / "other.crt").write_text(other.ca_pem)
    result = run_script(job_environment(server, ca_file, DREMIO_CA_FILE=str(tmp_path / "other.crt")))
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert server.requests == [r for r in server.requests if r.path == "/apiv2/bootstrap/firstuser"]


def test_a_backup_directory_dremio_cannot_create_fails_with_dremios_message(server, ca_file):
    server.backup_parents = {"/another-bucket"}
    result = run_script(job_environment(server, ca_file))
    assert result.returncode == 1
    assert f"HTTP 400: Parent directory dremioS3:///{BUCKET} does not exist." in result.stderr
    assert server.tokens == {}, "the token is given back after a failed backup too"


def test_a_failing_coordinator_fails_the_job(server, ca_file):
    server.fail("status", status=503)  # the login is answered 503
    result = run_script(job_environment(server, ca_file))
    assert result.returncode == 1 and "HTTP 503" in result.stderr


@pytest.mark.parametrize(("overrides", "message"), [
    ({"DREMIO_PASSWORD": ""}, "missing environment variable(s): DREMIO_PASSWORD"),
    ({"DREMIO_URL": "http://dremio-client:9047"}, "DREMIO_URL must be an https:// URL"),
    ({"BACKUP_DIR": "/opt/dremio/data/backups"}, "BACKUP_DIR must be dremioS3:///<bucket>/<prefix>"),
    ({"BACKUP_DIR": "dremioS3:///only-a-bucket"}, "BACKUP_DIR must be dremioS3:///<bucket>/<prefix>"),
    ({"DREMIO_CA_FILE": "/nonexistent/ca.crt"}, "is not a readable file"),
    ({"REQUEST_TIMEOUT_SECONDS": "soon"}, "REQUEST_TIMEOUT_SECONDS must be a positive number"),
])
def test_a_misconfigured_job_exits_2_before_calling_dremio(server, ca_file, overrides, message):
    result = run_script(job_environment(server, ca_file, **overrides))
    assert result.returncode == 2
    assert message in result.stderr
    assert [r for r in server.requests if r.path != "/apiv2/bootstrap/firstuser"] == []


@pytest.mark.parametrize("missing", ["backupDir", "table", "key"])
def test_the_fake_refuses_what_the_server_would_fail_on(server, missing):
    """BackupResource dereferences backupDir, table and key without a null check: the script must send all
    three, and the fake answers a missing one as the server does (500)."""
    client_body = backup_options(f"dremioS3:///{BUCKET}/dremio")
    del client_body[missing]
    token = server.handle("POST", "/apiv2/login", {}, json.dumps({"userName": ADMIN, "password": PASSWORD}).encode(
    ))[1]["token"]
    from tests.support.dremio_server import ApiFailureError

    with pytest.raises(ApiFailureError) as failure:
        server.handle("POST", "/apiv2/backup", {"authorization": f"_dremio{token}"}, json.dumps(client_body).encode())
    assert failure.value.status == 500
