"""superset_config.py as the pods load it, loaded by the real Superset 6.1 the slow suite installs (with its redis-py,
Celery, kombu and Flask-Caching) through SUPERSET_CONFIG_PATH, as the pods' environment sets it: Superset's own
`superset.config` takes it in, and what it ends with is checked. Every Redis client gets the runtime's password and
TLS verified against the stack's CA with the host name checked, the metadata database is `verify-full` against the
stack's CA, or the RDS bundle where the metadata server is RDS, and the hardening switches are on. Nothing
connects: the clients' parsed connection settings are what is checked."""

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
from superset import config
namespace = vars(config)
import redis
from celery import Celery
from kombu import Connection

def text(value):
    return value.name if isinstance(value, enum.Enum) else str(value)

def described(kwargs):
    return {key: text(value) for key, value in kwargs.items()
            if key in ("host", "port", "username", "password", "db", "ssl_cert_reqs", "ssl_ca_certs",
                       "ssl_check_hostname")}

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
    "switches": {name: namespace[name] for name in ("TALISMAN_ENABLED", "SESSION_COOKIE_SECURE",
                 "SESSION_COOKIE_HTTPONLY", "WTF_CSRF_ENABLED", "AUTH_USER_REGISTRATION", "DEBUG")},
    "event_logger": type(namespace["EVENT_LOGGER"]).__name__,
}))
"""


RDS = {"rds_ca_image": "ghcr.io/dataplatform/migrations:0.1.0",
       "rds_ca_file": "/etc/dataplatform/rds-global-bundle.pem"}


@pytest.fixture(scope="module", params=["in-cluster", "rds"])
def settings(request, tmp_path_factory):
    python = ensure_venv().with_name("python")
    shape = spec.SupersetShape(image="superset:6.1.0", replicas=1, resources=SMALL,
                               redis_host="redis.dp-presentation.svc.cluster.local", redis_port="6379",
                               **(RDS if request.param == "rds" else {}))
    config_file = tmp_path_factory.mktemp("pythonpath") / "superset_config.py"
    config_file.write_text(spec.superset_config(shape.database_ca_file()))
    (web,) = next(manifest for manifest in spec.workloads(shape)
                  if manifest["metadata"]["name"] == spec.WEB)["spec"]["template"]["spec"]["containers"]
    environment = {item["name"]: item["value"] for item in web["env"] if "value" in item}
    assert environment["SUPERSET_CONFIG_PATH"] == spec.CONFIG_FILE
    environment.update({"SUPERSET_CONFIG_PATH": str(config_file), "SUPERSET_HOME": str(config_file.parent),
                        "REDIS_PASSWORD": "p@ss/word", "SUPERSET_SECRET_KEY": "k" * 64, "DB_USER": "superset",
                        "DB_PASS": "pw", "DB_HOST": "metadata-rw", "DB_PORT": "5432", "DB_NAME": "superset",
                        "PATH": "/usr/bin:/bin"})
    result = subprocess.run([str(python), "-c", PROBE], env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "rds": request.param == "rds"}


def test_every_redis_client_logs_in_and_verifies_the_stack_ca(settings):
    verified = {"ssl_cert_reqs": "CERT_REQUIRED", "ssl_ca_certs": spec.CA_FILE,
                "ssl_check_hostname": "True"}
    cache, results = settings["cache"], settings["results"]
    assert cache["class"] == "SSLConnection" and cache["password"] == "p@ss/word"
    # Valkey's `superset` user, never the default user (components/presentation/cache.py).
    assert cache["username"] == settings["celery_backend"]["username"] == results["username"] == "superset"
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


def test_hardening_switches_and_the_audit_logger_take_effect(settings):
    assert settings["switches"] == {"TALISMAN_ENABLED": True, "SESSION_COOKIE_SECURE": True,
                                    "SESSION_COOKIE_HTTPONLY": True, "WTF_CSRF_ENABLED": True,
                                    "AUTH_USER_REGISTRATION": False, "DEBUG": False}
    assert settings["event_logger"] == "AuditEventLogger"
