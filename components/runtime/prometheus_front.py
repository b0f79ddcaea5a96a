"""Prometheus's authenticating TLS front: how a client outside the stack (a team's Grafana) queries Prometheus.

    conf = nginx_conf()                         # the ConfigMap `prometheus-auth-proxy`, key `default.conf`
    line = htpasswd_line("team-grafana", hash)  # one line of the Secret `prometheus-readers`, key `htpasswd`

Prometheus itself serves HTTPS on 9090 with the stack's certificate (`prometheusSpec.web.tlsConfig`), for the
clients inside its pod and the kubelet. Neither authentication Prometheus's own web configuration offers can be used
under the Prometheus Operator v0.93 (docs/decisions/0057-prometheus-readers.md): the operator writes that file itself
from the Prometheus resource, whose `web` has `tlsConfig` and `httpConfig` but no `basic_auth_users`; and a client
certificate required there (`clientAuthType: RequireAndVerifyClientCert`) would fail the kubelet's HTTPS probes and
the config reloader's `/-/reload` calls, which present none. So an nginx container in Prometheus's pod (the image the
ingestion layer's TLS front runs) listens on PORT with the same certificate, asks every request for HTTP basic
authentication against bcrypt hashes (one login per `kubernetes.prometheusReaders` entry), and forwards only the
query API (`/api/v1/`, less `/api/v1/admin/`) to Prometheus on loopback over TLS verified with the stack's CA. The
NetworkPolicies admit readers to PORT only; nothing outside the pod reaches 9090 but Prometheus's own scrapes' answers.

Pure: text and values, no resources. tests/components/test_prometheus_front.py runs the configuration in a real nginx
in front of a real Prometheus.
"""

from __future__ import annotations

from typing import Any

from components.kit.hardening import Resources, container_security
from components.kit.images import NGINX_UNPRIVILEGED, pinned
from infra.model.naming import PROMETHEUS_READER_PORT, service_host

PORT = PROMETHEUS_READER_PORT
PORT_NAME = "web-auth"
PROMETHEUS_PORT = 9090
CONTAINER = "auth-proxy"
CONFIG_MAP = "prometheus-auth-proxy"
CONFIG_KEY = "default.conf"
HTPASSWD_SECRET = "prometheus-readers"
HTPASSWD_KEY = "htpasswd"
PROXY_UID = 101  # the `nginx` user of the unprivileged image
TLS_DIR = "/etc/nginx/tls"
AUTH_DIR = "/etc/nginx/auth"
CA_DIR = "/etc/nginx/ca"
RESOURCES = Resources(cpu="25m", memory="64Mi", cpu_limit="250m")
REALM = "Prometheus"
# Prometheus's certificate names its Service; the front verifies that name on loopback.
SERVER_NAME = service_host("prometheus-prometheus", "monitoring")


def reader_secret(name: str) -> str:
    """The Secret in `dp-monitoring` holding a reader's `username`, `password` and `url`."""
    return f"prometheus-reader-{name}"


def url() -> str:
    """Where readers reach the front: the Prometheus Service's port PORT."""
    return f"https://{SERVER_NAME}:{PORT}"


def htpasswd_line(username: str, password_hash: str) -> str:
    """One login as nginx's `auth_basic_user_file` reads it: `name:hash`, the hash one crypt(3) knows (pulumi-random's
    `bcrypt_hash`, `$2a$...`, which the glibc and musl builds of nginx both check)."""
    if ":" in username or any(character.isspace() for character in username + password_hash):
        raise ValueError(f"not a login nginx can read: {username!r} (no ':' or spaces in a name or a hash)")
    return f"{username}:{password_hash}"


def nginx_conf(tls_dir: str = TLS_DIR, auth_dir: str = AUTH_DIR, ca_dir: str = CA_DIR, port: int = PORT,
               upstream_port: int = PROMETHEUS_PORT, server_name: str = SERVER_NAME) -> str:
    """nginx's server block (the image's nginx.conf includes `conf.d/*.conf`); the paths and ports are parameters
    only so that the test can run the same text on loopback."""
    return "\n".join([
        "server {",
        f"    listen {port} ssl;",
        f"    ssl_certificate {tls_dir}/tls.crt;",
        f"    ssl_certificate_key {tls_dir}/tls.key;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    client_max_body_size 1m;",
        f'    auth_basic "{REALM}";',
        f"    auth_basic_user_file {auth_dir}/{HTPASSWD_KEY};",
        "    location /api/v1/admin/ {",
        "        return 403;",
        "    }",
        "    location /api/v1/ {",
        "        limit_except GET POST {",
        "            deny all;",
        "        }",
        f"        proxy_pass https://127.0.0.1:{upstream_port};",
        "        proxy_ssl_verify on;",
        f"        proxy_ssl_trusted_certificate {ca_dir}/ca.crt;",
        f"        proxy_ssl_name {server_name};",
        "        proxy_ssl_server_name on;",
        "        proxy_set_header Authorization \"\";",
        "        proxy_read_timeout 300s;",
        "    }",
        "    location / {",
        "        return 404;",
        "    }",
        "}",
        "",
    ])


def container() -> dict[str, Any]:
    """The front's container, added to Prometheus's pod by `prometheusSpec.containers` (a new name: the operator
    appends it to its own containers)."""
    return {
        "name": CONTAINER,
        "image": pinned(NGINX_UNPRIVILEGED),
        "ports": [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}],
        "securityContext": container_security(run_as_user=PROXY_UID),
        "resources": RESOURCES.values(),
        "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 10},
        "volumeMounts": [
            {"name": "auth-proxy-tls", "mountPath": TLS_DIR, "readOnly": True},
            {"name": "auth-proxy-logins", "mountPath": AUTH_DIR, "readOnly": True},
            {"name": "auth-proxy-ca", "mountPath": CA_DIR, "readOnly": True},
            {"name": "auth-proxy-conf", "mountPath": "/etc/nginx/conf.d", "readOnly": True},
            {"name": "auth-proxy-tmp", "mountPath": "/tmp"},
        ],
    }


def volumes(tls_secret: str, ca_config_map: str, ca_key: str) -> list[dict[str, Any]]:
    """The front's volumes (`prometheusSpec.volumes`): Prometheus's certificate, the logins, the stack's CA, the
    configuration and nginx's scratch space (the root filesystem is read-only)."""
    return [
        {"name": "auth-proxy-tls", "secret": {"secretName": tls_secret}},
        {"name": "auth-proxy-logins", "secret": {"secretName": HTPASSWD_SECRET}},
        {"name": "auth-proxy-ca", "configMap": {"name": ca_config_map, "items": [{"key": ca_key, "path": "ca.crt"}]}},
        {"name": "auth-proxy-conf", "configMap": {"name": CONFIG_MAP}},
        {"name": "auth-proxy-tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]


def service_port() -> dict[str, Any]:
    """The port the chart adds to Prometheus's Service (`prometheus.service.additionalPorts`)."""
    return {"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}
