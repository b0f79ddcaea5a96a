"""Superset's Valkey: the ACL lines the chart writes from our `auth.aclUsers`, loaded into a real Redis 7 server
(Debian `redis-server` 7.0; Valkey 9 is not packaged here, and its ACL grammar and command categories are Redis
7's), and the probe command run against it.

The ACL lines come two ways: written here in the form of the chart's init script
(valkey/templates/init_config.yaml@valkey-0.11.0: `user <name> on #<sha256 of the password> <permissions>`), and,
when the chart cache holds valkey 0.11.0, written by the chart itself: prod's release rendered with Helm's SDK from
the plan's values, its init script run in a scratch folder, and its probes' commands run as rendered. Everything
after that (which commands each user may run, the default user being off, the probe passing only when it
authenticates) is the server's answer.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.presentation import cache
from tests.support import system

pytestmark = pytest.mark.integration
PASSWORDS = {"default": "never-handed-out", cache.SUPERSET_USER: "superset-secret", cache.PROBE_USER: "probe-secret",
             cache.REPLICATION_USER: "replication-secret"}


def acl_lines(replicas: int) -> list[str]:
    return [f"user {name} on #{hashlib.sha256(PASSWORDS[name].encode()).hexdigest()} {user['permissions']}"
            for name, user in cache.acl_users(replicas).items()]


def start_server(folder: Path, acl_file: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (folder / "server.conf").write_text(f"port {port}\nbind 127.0.0.1\ndir {folder}\naclfile {acl_file}\n"
                                        "save \"\"\nappendonly no\n")
    process = subprocess.Popen([system.executable("redis-server", "redis"), str(folder / "server.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[int]:
    system.require("redis")
    folder = tmp_path_factory.mktemp("valkey")
    (folder / "users.acl").write_text("\n".join(acl_lines(replicas=2)) + "\n")
    process, port = start_server(folder, folder / "users.acl")
    yield port
    process.terminate()
    process.wait(timeout=10)


def cli(port: int, *command: str, user: str | None = None) -> str:
    env = {**os.environ}
    arguments = [system.executable("redis-cli", "redis"), "-p", str(port)]
    if user is not None:
        arguments += ["--user", user]
        env["REDISCLI_AUTH"] = PASSWORDS[user]
    answer = subprocess.run([*arguments, *command], capture_output=True, text=True, env=env, timeout=10)
    return (answer.stdout + answer.stderr).strip()


def test_the_default_user_is_off(server):
    assert "NOAUTH" in cli(server, "PING")
    assert "NOAUTH" in cli(server, "GET", "anything")
    assert "WRONGPASS" in cli(server, "PING", user="default")


@pytest.mark.parametrize("command", [
    ("SET", "superset_k", "v", "EX", "60"), ("GET", "superset_k"), ("EXPIRE", "superset_k", "30"),
    ("DEL", "superset_k"), ("SELECT", "1"), ("LPUSH", "celery", "task"), ("BRPOP", "celery", "1"),
    ("HSET", "unacked", "t", "1"), ("ZADD", "unacked_index", "1", "t"), ("PUBLISH", "celery-task-meta", "x"),
    ("EVAL", "return 1", "0"), ("XADD", "async-events", "*", "k", "v"), ("SCAN", "0"), ("MGET", "a", "b"),
    ("CLIENT", "SETNAME", "superset"), ("PING",),
])
def test_superset_runs_what_its_clients_send(server, command):
    answer = cli(server, *command, user=cache.SUPERSET_USER)
    assert "NOPERM" not in answer and "ERR" not in answer, answer


@pytest.mark.parametrize("command", [
    ("CONFIG", "GET", "*"), ("FLUSHALL",), ("FLUSHDB",), ("SHUTDOWN", "NOSAVE"), ("KEYS", "*"), ("SAVE",),
    ("ACL", "SETUSER", "x", "on"), ("INFO",), ("CLIENT", "KILL", "TYPE", "normal"), ("MONITOR",),
    ("REPLICAOF", "NO", "ONE"), ("MIGRATE", "h", "1", "k", "0", "1"),
])
def test_superset_has_no_admin_or_dangerous_command(server, command):
    assert "NOPERM" in cli(server, *command, user=cache.SUPERSET_USER)


def test_the_probe_user_only_pings(server):
    assert cli(server, "PING", user=cache.PROBE_USER) == "PONG"
    assert "NOPERM" in cli(server, "GET", "superset_k", user=cache.PROBE_USER)
    assert "NOPERM" in cli(server, "CONFIG", "GET", "*", user=cache.PROBE_USER)


def test_the_replication_user_only_replicates(server):
    assert cli(server, "PING", user=cache.REPLICATION_USER) == "PONG"
    assert "NOPERM" in cli(server, "GET", "superset_k", user=cache.REPLICATION_USER)
    assert "NOPERM" in cli(server, "FLUSHALL", user=cache.REPLICATION_USER)


def run_probe(port: int, secrets: Path, script: str = cache.PROBE_SCRIPT) -> int:
    """The probe's shell command as the pod runs it, with redis-cli for valkey-cli and without the TLS options
    (the test server is plain TCP): the password file, the user, the PONG check."""
    script = (script.replace(cache.AUTH_MOUNT, str(secrets))
              .replace("valkey-cli", f"{system.executable('redis-cli', 'redis')} -p {port}")
              .replace(f"--tls --cacert {cache.TLS_CA} ", ""))
    return subprocess.run(["sh", "-c", script], capture_output=True, timeout=10).returncode


def test_the_probe_passes_only_when_it_authenticates(server, tmp_path):
    (tmp_path / cache.PROBE_PASSWORD_KEY).write_text(PASSWORDS[cache.PROBE_USER])
    assert run_probe(server, tmp_path) == 0
    (tmp_path / cache.PROBE_PASSWORD_KEY).write_text("wrong")
    assert run_probe(server, tmp_path) != 0


def test_the_release_carries_the_users_and_the_probes():
    values = cache.release(replicas=2, storage_class=None).values
    assert values["auth"]["aclUsers"] == cache.acl_users(2)
    assert values["replica"]["replicationUser"] == cache.REPLICATION_USER
    assert values["extraValkeySecrets"] == [{"name": cache.AUTH_SECRET, "mountPath": cache.AUTH_MOUNT}]
    for name in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert values[name]["customProbe"]["exec"]["command"] == ["sh", "-c", cache.PROBE_SCRIPT]
    service = cache.hosted_service(2, None)
    assert service.password_key == cache.PASSWORD_KEY
    assert set(service.other_password_keys) == {cache.DEFAULT_PASSWORD_KEY, cache.PROBE_PASSWORD_KEY,
                                                cache.REPLICATION_PASSWORD_KEY}


@pytest.fixture(scope="module")
def rendered_valkey(stack_recording):
    """prod's Valkey release as Helm renders it from the chart cache with the plan's values."""
    from infra.model.charts import CHARTS
    from infra.offline.render.cache import default_cache, lookup
    from tests.support.render import release, rendered

    pin = CHARTS["valkey"]
    if lookup(default_cache(), pin.chart, pin.version) is None:
        pytest.skip(f"not in the chart cache {default_cache()}: valkey (make chart-cache)")
    result = release(rendered(stack_recording("prod")), "redis")
    assert result.status == "rendered", result.reason
    return {f"{item.kind}/{item.name}": item.document for item in result.render.objects}


def test_the_chart_s_own_init_script_writes_users_the_server_enforces(rendered_valkey, tmp_path):
    """The rendered init script, run with its absolute paths moved into a scratch folder, writes the ACL file;
    Redis 7 loads it and enforces it."""
    system.require("redis")
    script = rendered_valkey["ConfigMap/redis-init-scripts"]["data"]["init.sh"]
    secrets = tmp_path / "valkey-users-secret"
    secrets.mkdir()
    (tmp_path / "data").mkdir()  # the pod's data volume
    for name, user in cache.acl_users(2).items():
        (secrets / user["passwordKey"]).write_text(PASSWORDS[name])
    for old, new in (("/valkey-users-secret", str(secrets)), ("/valkey-auth-secret", str(tmp_path / "auth")),
                     ("/etc/valkey", str(tmp_path / "etc")), ("/data", str(tmp_path / "data")),
                     ("/usr/local/etc/valkey", str(tmp_path / "extra")), ("/extravalkeyconfigs", str(tmp_path / "x"))):
        script = script.replace(old, new)
    ran = subprocess.run(["sh", "-c", script], env={**os.environ, "POD_INDEX": "0"}, capture_output=True, text=True,
                         timeout=30)
    assert ran.returncode == 0, ran.stderr
    acl_file = tmp_path / "etc" / "users.acl"
    assert sorted(acl_file.read_text().splitlines()) == sorted(acl_lines(2))  # Helm ranges over sorted keys
    process, port = start_server(tmp_path, acl_file)
    try:
        assert "NOAUTH" in cli(port, "PING")
        assert cli(port, "PING", user=cache.PROBE_USER) == "PONG"
        assert "NOPERM" in cli(port, "FLUSHALL", user=cache.SUPERSET_USER)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_rendered_probes_log_in(rendered_valkey, server, tmp_path):
    (workload,) = [document for key, document in rendered_valkey.items() if key.split("/")[0] == "StatefulSet"]
    (container,) = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == "redis"]
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert cache.AUTH_MOUNT in mounts  # where the probe reads its password
    (tmp_path / cache.PROBE_PASSWORD_KEY).write_text(PASSWORDS[cache.PROBE_USER])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:2] == ["sh", "-c"]
        assert run_probe(server, tmp_path, command[2]) == 0, probe
