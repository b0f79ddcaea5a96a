"""Logs layer: `LogIndices`, the Elasticsearch cluster (ECK) and the objects the platform's logs need in it.

Example (inside a Pulumi program; `cluster` is the runtime's ClusterContext)::

    logs = LogIndices("logs", config.logs, cluster, config.identity, config.retention, snapshots)

- Cluster: an ECK `Elasticsearch` named `logs` in `dp-logs`, HTTP TLS with a cert-manager certificate from the
  stack's CA, node sets per stage, `node.store.allow_mmap: false` (no privileged sysctl init container),
  restricted pod security, an admin user from a file-realm Secret, and the security audit log when the licence
  allows (`logs.securityAudit`).
- Objects, through the dynamic providers (https, verified against the stack's CA): per index family an ILM
  policy (delete phase after `retention_days`, counted from the date in the daily index's name) and an index
  template (the seed's `airbyte-logs-*` mapping, dbt runs, the audit trail); a writer role limited to creating
  and appending to those indices, a read-only reader role, and the log shipper's user, whose credentials go to
  the `log-shipper-credentials` Secret the runtime's Fluent Bit reads.
- Snapshots (docs/backup-and-restore.md, "Elasticsearch"): SLM policies snapshotting the audit indices (kept at
  least `retention.auditDays`) and the job logs (kept at least `logs.jobLogDays`), each into an `s3` repository of
  its own on the lake's backups bucket under `elasticsearch/<policy>` (so the snapshot alerts are per policy), and,
  with `logs.snapshots.legacyRepository`, the former shared repository read-only for restores; how the nodes reach
  the bucket: components/logs/snapshots.py.
- Watching: prometheus-community's Elasticsearch exporter, as a read-only user (cluster `monitor` and
  `monitor_snapshot`), its ServiceMonitor and the snapshot and cluster-health alerts: components/logs/exporter.py.
- No identity for Dremio: its Elasticsearch connector cannot speak to a 9.x cluster, so Dremio has no logs source
  (docs/decisions/0028-dremio-editions-and-the-logs-source.md) and no user here.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kit.base import child_options, type_token
from components.kit.cluster import LOG_SHIPPER_SECRET, ClusterContext, server_certificate, service_dns_names
from components.kit.images import pinned
from components.kit.release import declare_release
from components.logs import exporter
from components.logs import spec as logs_spec
from components.logs.config import LogsSettings, NodeSetSettings
from components.logs.provider import IlmPolicy, IndexTemplate, Role, SlmPolicy, SnapshotRepository, User
from components.logs.snapshots import (
    ACCESS_KEY_SETTING,
    CA_KEY,
    CA_SECRET,
    CREDENTIALS_SECRET,
    SECRET_KEY_SETTING,
    SERVICE_ACCOUNT,
    SnapshotTarget,
    client_settings,
    pod_additions,
)
from components.monitoring.component import Monitoring
from components.runtime.values import ECK_RELEASE
from infra.model.config import RetentionConfig
from infra.model.naming import service_host
from infra.model.sections import StackIdentity

LAYER = "logs"
CLUSTER_NAME = "logs"
ADMIN_USER = "dataplatform-admin"
HTTP_PORT = 9200
ES_IMAGE_UID = 1000
# ECK's default for an Elasticsearch of a given version: `<container-registry>/elasticsearch/elasticsearch:<version>`
# with the chart's `config.containerRegistry` (docker.elastic.co).
ELASTICSEARCH_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch"


def node_set(settings: NodeSetSettings, security_audit: bool, snapshots: SnapshotTarget | None = None,
             image: str = ELASTICSEARCH_IMAGE) -> dict:
    memory = f"{settings.memory_gib}Gi"
    config = {"node.roles": list(settings.roles), "node.store.allow_mmap": False}
    if security_audit:
        config["xpack.security.audit.enabled"] = True
    additions = pod_additions(snapshots, image) if snapshots is not None else {}
    if snapshots is not None:
        config |= client_settings(snapshots)
    pod_spec = _node_pod_spec(memory, additions)
    return {
        "name": settings.name,
        "count": settings.count,
        "config": config,
        "podTemplate": {"spec": pod_spec},
        "volumeClaimTemplates": [{
            "metadata": {"name": "elasticsearch-data"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": f"{settings.storage_gib}Gi"}}},
        }],
    }


def _node_pod_spec(memory: str, additions: dict) -> dict:
    container = {
        "name": "elasticsearch",
        "resources": {"requests": {"cpu": "500m", "memory": memory}, "limits": {"memory": memory}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True},
    }
    for key in ("env", "volumeMounts"):
        if additions.get(key):
            container[key] = additions[key]
    spec: dict = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": ES_IMAGE_UID, "fsGroup": ES_IMAGE_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if "serviceAccountName" in additions:
        spec["serviceAccountName"] = additions["serviceAccountName"]
    for key in ("initContainers", "volumes"):
        if additions.get(key):
            spec[key] = additions[key]
    return spec


class LogIndices(pulumi.ComponentResource):
    """The log and audit Elasticsearch cluster, its templates, lifecycles, roles and shipper identity."""

    endpoint: pulumi.Output[str]
    host: pulumi.Output[str]
    port: int
    """{username, password} of Dremio's read-only user (secret)."""

    def __init__(self, name: str, config: LogsSettings, cluster: ClusterContext, stack: StackIdentity,
                 retention: RetentionConfig, snapshots: SnapshotTarget | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("logs", "LogIndices"), name, None, opts)
        self._name = name
        self._cluster = cluster
        namespace = cluster.namespaces[LAYER]
        admin_password = random.RandomPassword(f"{name}-admin-password", length=40, special=False,
                                               opts=child_options(self))
        admin = k8s.core.v1.Secret(
            f"{name}-admin-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{CLUSTER_NAME}-admin", namespace=namespace),
            type="kubernetes.io/basic-auth",
            string_data={"username": ADMIN_USER, "password": admin_password.result, "roles": "superuser"},
            opts=self._k8s(additional_secret_outputs=["stringData", "data"]),
        )
        http_service = f"{CLUSTER_NAME}-es-http"
        tls_secret = f"{http_service}-tls"
        certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": tls_secret, "namespace": namespace},
            spec=server_certificate(tls_secret, service_dns_names(http_service, LAYER), cluster.issuer, lifetime=False),
            opts=self._k8s(depends_on=cluster.after("cert-manager")),
        )
        image = pinned(f"{ELASTICSEARCH_IMAGE}:{config.version}")
        snapshot_prerequisites = self._snapshot_access(namespace, snapshots) if snapshots is not None else []
        secure_settings = ([{"secretName": CREDENTIALS_SECRET}]
                           if snapshots is not None and snapshots.minio else [])
        self.elasticsearch = k8s.apiextensions.CustomResource(
            f"{name}-elasticsearch",
            api_version="elasticsearch.k8s.elastic.co/v1",
            kind="Elasticsearch",
            metadata={"name": CLUSTER_NAME, "namespace": namespace},
            spec={
                "version": config.version,
                # The image ECK would pick for the version, named so that the vendor image lock pins it.
                "image": image,
                "http": {"tls": {"certificate": {"secretName": tls_secret}}},
                "auth": {"fileRealm": [{"secretName": admin.metadata.name}]},
                **({"secureSettings": secure_settings} if secure_settings else {}),
                "nodeSets": [node_set(settings, config.security_audit, snapshots, image)
                             for settings in config.node_sets],
            },
            opts=self._k8s(protect=stack.protect, depends_on=[certificate, *cluster.after(ECK_RELEASE),
                                                              *snapshot_prerequisites]),
        )
        # The URL derives from the cluster resource, so every object below waits for it.
        self.host = self.elasticsearch.metadata["name"].apply(
            lambda cluster_name: service_host(f"{cluster_name}-es-http", LAYER))
        self.port = HTTP_PORT
        self.endpoint = self.host.apply(lambda host: f"https://{host}:{HTTP_PORT}")
        connection = pulumi.Output.secret(pulumi.Output.all(
            url=self.endpoint, username=ADMIN_USER, password=admin_password.result, ca_pem=cluster.ca_pem,
        ).apply(lambda parts: {**parts, "timeout": 30}))
        families = logs_spec.families(config.job_log_days, retention.audit_days)
        for family in families:
            policy = IlmPolicy(f"{name}-ilm-{family.name}", connection, family.name, logs_spec.ilm_policy(family),
                               opts=child_options(self))
            IndexTemplate(f"{name}-template-{family.name}", connection, family.name,
                          logs_spec.index_template(family, config.replicas),
                          opts=child_options(self, depends_on=[policy]))
        writer = Role(f"{name}-role-writer", connection, logs_spec.WRITER_ROLE, logs_spec.writer_role(families),
                      opts=child_options(self))
        Role(f"{name}-role-reader", connection, logs_spec.READER_ROLE, logs_spec.reader_role(families),
             opts=child_options(self))
        audit_keep, job_log_keep = config.snapshot_days(retention.audit_days)
        snapshot_policies = logs_spec.snapshot_policies(families, audit_keep, job_log_keep,
                                                        config.snapshots.interval_hours)
        if snapshots is not None:
            bucket = pulumi.Output.from_input(snapshots.bucket)
            for policy in snapshot_policies:
                repository = SnapshotRepository(
                    f"{name}-snapshot-repository-{policy.name}", connection, policy.repository,
                    bucket.apply(lambda bucket, policy=policy: logs_spec.policy_repository(policy, bucket)),
                    opts=child_options(self))
                SlmPolicy(f"{name}-slm-{policy.name}", connection, policy.name, logs_spec.slm_policy(policy),
                          opts=child_options(self, depends_on=[repository]))
            if config.snapshots.legacy_repository:
                # The resource name the single repository had, so an upgrade updates it to read-only in place.
                SnapshotRepository(f"{name}-snapshot-repository", connection, logs_spec.LEGACY_REPOSITORY,
                                   bucket.apply(logs_spec.legacy_repository), opts=child_options(self))
        shipper_password = random.RandomPassword(f"{name}-shipper-password", length=40, special=False,
                                                 opts=child_options(self))
        shipper = User(f"{name}-user-shipper", connection, logs_spec.SHIPPER_USER, [logs_spec.WRITER_ROLE],
                       shipper_password.result, full_name="Fluent Bit log shipper",
                       opts=child_options(self, depends_on=[writer]))
        k8s.core.v1.Secret(
            f"{name}-shipper-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=LOG_SHIPPER_SECRET, namespace=namespace),
            type="Opaque",
            string_data={"username": shipper.key, "password": shipper_password.result},
            opts=self._k8s(additional_secret_outputs=["stringData", "data"]),
        )
        self._exporter(namespace, connection, snapshot_policies if snapshots is not None else [])
        self.register_outputs({"endpoint": self.endpoint, "indices": [family.pattern for family in families]})

    def _exporter(self, namespace: pulumi.Input[str], connection: pulumi.Output,
                  snapshot_policies: list[logs_spec.SnapshotPolicy]) -> None:
        """The snapshot and health exporter (components/logs/exporter.py): its read-only user, whose password and the
        stack CA reach the pod through Secrets, its release, the ServiceMonitor and the alerts."""
        name = self._name
        role = Role(f"{name}-role-exporter", connection, exporter.EXPORTER_ROLE, exporter.role(),
                    opts=child_options(self))
        password = random.RandomPassword(f"{name}-exporter-password", length=40, special=False,
                                         opts=child_options(self))
        user = User(f"{name}-user-exporter", connection, exporter.EXPORTER_USER, [exporter.EXPORTER_ROLE],
                    password.result, full_name="Prometheus Elasticsearch exporter",
                    opts=child_options(self, depends_on=[role]))
        credentials = k8s.core.v1.Secret(
            f"{name}-exporter-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=exporter.CREDENTIALS_SECRET, namespace=namespace),
            type="Opaque",
            string_data={"username": user.key, "password": password.result},
            opts=self._k8s(additional_secret_outputs=["stringData", "data"]),
        )
        ca = k8s.core.v1.Secret(
            f"{name}-exporter-ca",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=exporter.CA_SECRET, namespace=namespace),
            type="Opaque",
            string_data={exporter.CA_KEY: self._cluster.ca_pem},
            opts=self._k8s(),
        )
        spec = exporter.release(exporter.endpoint(f"{CLUSTER_NAME}-es-http", HTTP_PORT))
        release = declare_release(f"{name}-exporter", spec, namespace,
                                  self._k8s(depends_on=[credentials, ca, user]))
        rules = exporter.snapshot_alert_rules(snapshot_policies, CLUSTER_NAME) + exporter.cluster_alert_rules()
        Monitoring(f"{name}-monitoring", self._cluster, targets=[exporter.scrape_target()], rules=rules,
                   opts=child_options(self, depends_on=[release]))

    def _snapshot_access(self, namespace: str, snapshots: SnapshotTarget) -> list[pulumi.Resource]:
        """What the nodes need before they start to reach the bucket: in dev the MinIO keys for the keystore and the
        stack CA for the trust store; in prod the service account whose token the role trusts."""
        if snapshots.minio:
            credentials = pulumi.Output.secret(snapshots.credentials)
            keys = k8s.core.v1.Secret(
                f"{self._name}-snapshot-credentials",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=CREDENTIALS_SECRET, namespace=namespace),
                type="Opaque",
                string_data={ACCESS_KEY_SETTING: credentials.apply(lambda keys: keys["access_key_id"]),
                             SECRET_KEY_SETTING: credentials.apply(lambda keys: keys["secret_access_key"])},
                opts=self._k8s(additional_secret_outputs=["stringData", "data"]),
            )
            ca = k8s.core.v1.Secret(
                f"{self._name}-snapshot-ca",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=CA_SECRET, namespace=namespace),
                type="Opaque",
                string_data={CA_KEY: self._cluster.ca_pem},
                opts=self._k8s(),
            )
            return [keys, ca]
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-snapshot-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE_ACCOUNT, namespace=namespace),
            automount_service_account_token=False,
            opts=self._k8s(),
        )
        return [account]

    def _k8s(self, **extra) -> pulumi.ResourceOptions:
        return self._cluster.options(self, **extra)
