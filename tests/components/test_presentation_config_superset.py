"""Superset's configuration overrides, executed in the real Superset virtualenv the slow suite builds (Superset 6.1
with its redis-py, Celery, kombu and Flask-Caching), in the order the chart renders them (its `range` over the
`configOverrides` map is by key): every Redis client gets the runtime's password and TLS verified against the
stack's CA with the host name checked, and the metadata database is `verify-full` against the stack's CA, or the RDS
bundle where the metadata server is RDS. Nothing connects: the clients' parsed connection settings are what is
checked."""

from __future__ import annotations

import json
import subprocess

import pytest

from components.kit.hardening import SMALL
from components.presentation import spec
from tests.support.superset import ensure_venv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROBE = """
import enum, json, os, sys
namespace = {}
# The chart's superset_config.py starts with these imports, then appends the overrides.
exec("import os; from flask_caching.backends.rediscache import RedisCache", namespace)
for key, text in sorted(json.loads(sys.stdin.read()).items()):
    exec(compile(text, f"configOverrides.{key}", "exec"), namespace)
import redis
from celery import Celery
from kombu import Connection

def text(value):
    return value.name if isinstance(value, enum.Enum) else str(value)

def described(kwargs):
    return {key: text(value) for key, value in kwargs.items()
            if key in ("host", "port", "password", "db", "ssl_cert_reqs", "ssl_ca_certs", "ssl_check_hostname")}

cache = redis.ConnectionPool.from_url(namespace["CACHE_CONFIG"]["CACHE_REDIS_URL"])
celery = Celery(broker=namespace["CELERY_CONFIG"].broker_url, backend=namespace["CELERY_CONFIG"].result_backend)
results = namespace["RESULTS_BACKEND"]._write_client.connection_pool
print(json.dumps({
    "cache": {"class": cache.connection_class.__name__, **described(cache.connection_kwargs)},
    "celery_backend": described(celery.backend.connparams),
    "broker": {key: text(value) for key, value in Connection(namespace["CELERY_CONFIG"].broker_url).ssl.items()},
    "results": {"class": results.connection_class.__name__, **described(results.connection_kwargs)},
    "database": namespace["SQLALCHEMY_DATABASE_URI"],
    "secret_key": namespace["SECRET_KEY"],
}))
"""


RDS = {"rds_ca_image": "ghcr.io/dataplatform/migrations:0.1.0",
       "rds_ca_file": "/etc/dataplatform/rds-global-bundle.pem"}


@pytest.fixture(scope="module", params=["in-cluster", "rds"])
def settings(request):
    python = ensure_venv().with_name("python")
    shape = spec.SupersetShape(image="superset:6.1.0", replicas=1, resources=SMALL,
                               redis_host="redis.dp-presentation.svc.cluster.local", redis_port="6379",
                               **(RDS if request.param == "rds" else {}))
    values = spec.values(shape)
    environment = {key: str(value) for key, value in values["extraEnv"].items()}
    environment.update({"REDIS_PASSWORD": "p@ss/word", "SUPERSET_SECRET_KEY": "k" * 64, "DB_USER": "superset",
                        "DB_PASS": "pw", "DB_HOST": "metadata-rw", "DB_PORT": "5432", "DB_NAME": "superset",
                        "PATH": "/usr/bin:/bin"})
    result = subprocess.run([str(python), "-c", PROBE], input=json.dumps(values["configOverrides"]), env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "rds": request.param == "rds"}


def test_every_redis_client_logs_in_and_verifies_the_stack_ca(settings):
    verified = {"ssl_cert_reqs": "CERT_REQUIRED", "ssl_ca_certs": spec.CA_FILE,
                "ssl_check_hostname": "True"}
    cache, results = settings["cache"], settings["results"]
    assert cache["class"] == "SSLConnection" and cache["password"] == "p@ss/word"
    assert (cache["host"], cache["port"], cache["db"]) == ("redis.dp-presentation.svc.cluster.local", "6379",
                                                           "1")
    assert {key: cache[key] for key in ("ssl_ca_certs", "ssl_check_hostname")} == {
        "ssl_ca_certs": spec.CA_FILE, "ssl_check_hostname": "True"}
    assert cache["ssl_cert_reqs"] == "required"
    assert settings["celery_backend"]["password"] == "p@ss/word"
    assert {key: settings["celery_backend"][key] for key in verified} == verified
    assert settings["broker"] == verified
    assert results["class"] == "SSLConnection" and results["password"] == "p@ss/word"
    assert {key: results[key] for key in ("ssl_ca_certs", "ssl_check_hostname")} == {
        "ssl_ca_certs": spec.CA_FILE, "ssl_check_hostname": "True"}


def test_metadata_database_is_verify_full_and_the_key_comes_from_the_environment(settings):
    ca_file = spec.RDS_CA_FILE if settings["rds"] else spec.CA_FILE
    assert settings["database"] == ("postgresql+psycopg2://superset:pw@metadata-rw:5432/superset"
                                    f"?sslmode=verify-full&sslrootcert={ca_file}")
    assert settings["secret_key"] == "k" * 64


def test_overrides_survive_the_charts_tpl():
    # The chart passes every override through `tpl`, which would read `{{` as a template action.
    for ca_file in (spec.CA_FILE, spec.RDS_CA_FILE):
        for key, text in spec.config_overrides(ca_file).items():
            assert "{{" not in text and "}}" not in text, key
