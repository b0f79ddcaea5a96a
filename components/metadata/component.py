"""Metadata layer: `MetadataDatabase`, the platform's PostgreSQL and everything inside it.

Example (inside a Pulumi program; `cluster` is the runtime's ClusterContext, `lake` the DataLake)::

    metadata = MetadataDatabase("metadata", config.metadata, catalog, cluster, config.identity, config.retention,
                                logins=DATABASE_LOGINS, backups=BackupTarget.from_lake(lake))
    pulumi.export("metadataHost", metadata.host)

Server, per backend:
- `cloudnative-pg` (dev): a CloudNativePG `Cluster` in `dp-metadata` serving a cert-manager certificate from the
  stack's CA (non-TLS connections rejected in pg_hba), pgaudit parameters (`pgaudit.log = ddl,role,write`),
  base backups and WAL to the lake's `backups` bucket with the `backups` identity through the Barman Cloud plugin
  (an `ObjectStore`, the plugin's release beside the operator where the stack installs it, and a daily
  ScheduledBackup with `method: plugin`; components/metadata/backups.py).
- `rds` (prod): `aws.rds.Instance` encrypted with its own KMS key, not public, IAM authentication on, log exports
  to CloudWatch (kept `retention.auditDays`, encrypted with the same key), deletion protection, multi-AZ, backups
  kept `backupRetentionDays` (>= 7 in prod), a final snapshot, and a parameter group that preloads pgaudit and
  forces SSL. Protected in prod. RDS manages the master password (Secrets Manager, the same key); the provider
  logs in as the master user with an IAM token after `MasterIamLogin` (components/metadata/iam_login.py) granted
  it `rds_iam`; the key's policy admits each service under its documented condition (components/metadata/keys.py).

Inside, through pulumi-postgresql with `sslmode=verify-full` (CA file from the runtime, or the RDS bundle):
databases, schemas, group roles from the catalog, a login role per service, grants and default privileges
(components/metadata/access.py), PUBLIC revoked, the pgaudit extension. Tables come from `migrations/`, run by a
Job whose name carries the migrations' hash, so a new or changed migration runs it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_postgresql as postgresql
import pulumi_random as random

from components.kit.base import child_options, type_token
from components.kit.cluster import ClusterContext, server_certificate, service_dns_names
from components.kit.images import RDS_CA_BUNDLE, pinned, platform_image, rds_ca_source
from components.kit.release import declare_release
from components.metadata.access import MIGRATOR, PLATFORM_DATABASE, AccessModel, DatabaseLogin, access_model
from components.metadata.backups import (
    ACCESS_KEY_ID,
    BACKUP_BUCKET,
    BASE_BACKUP_SCHEDULE,
    CA_KEY,
    CA_SECRET,
    CREDENTIALS_SECRET,
    OBJECT_STORE,
    SECRET_ACCESS_KEY,
    backup_alert_rules,
    cluster_plugins,
    object_store_spec,
    plugin_release,
    scheduled_backup_method,
)
from components.metadata.config import MetadataSettings
from components.metadata.events import CATEGORIES as EVENT_CATEGORIES
from components.metadata.events import SOURCE_TYPE as EVENT_SOURCE_TYPE
from components.metadata.events import instance_arn, topic_name, topic_policy_document
from components.metadata.events import key_policy_document as events_key_policy
from components.metadata.flows import INSTANCE_LABELS, INSTANCE_MONITOR
from components.metadata.iam_login import MasterIamLogin
from components.metadata.keys import key_policy_document as metadata_key_policy
from components.metadata.keys import log_group_name
from components.metadata.log_routes import CLUSTER_NAME
from components.monitoring.component import Monitoring, ScrapeTarget
from components.storage.access import role_annotations
from infra.migrations import MIGRATIONS_DIR, discover
from infra.model import naming
from infra.model.catalog import Catalog
from infra.model.config import RetentionConfig
from infra.model.naming import service_host
from infra.model.sections import StackIdentity

LAYER = "metadata"
PORT = 5432
MASTER_USER = "dpadmin"
PGAUDIT_LOG = "ddl,role,write"
CNPG_IMAGE = "ghcr.io/cloudnative-pg/postgresql:15.14-bookworm"
MIGRATIONS_MOUNT = "/etc/dataplatform/migrations"
CA_MOUNT = "/etc/dataplatform/ca"
RUN_AS_USER = 10001
# CloudWatch accepts only these retention periods; audit days round up to the next one.
CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                             2557, 2922, 3288, 3653)


@dataclass(frozen=True)
class MetadataConnection:
    """What a service layer takes from `MetadataDatabase`: the server, the logins (secret) by service, and where an
    RDS server's CA bundle is for pods that verify it."""

    host: pulumi.Input[str]
    port: int
    credentials: pulumi.Input[dict[str, dict[str, str]]]
    rds_ca_file: str | None = None
    """RDS: the CA bundle's path inside `rds_ca_image`; None where the server's certificate is the stack CA's."""
    rds_ca_image: str | None = None
    """RDS: the platform image that ships the bundle (components/kit/images.py `rds_ca_source`)."""

    @classmethod
    def from_metadata(cls, metadata: MetadataDatabase) -> MetadataConnection:
        rds_ca_file, rds_ca_image = metadata.rds_ca
        return cls(host=metadata.host, port=metadata.port, credentials=metadata.credentials,
                   rds_ca_file=rds_ca_file, rds_ca_image=rds_ca_image)


@dataclass(frozen=True)
class BackupTarget:
    """Where CloudNativePG's backup plugin writes base backups and WAL: the lake's `backups` bucket and identity."""

    bucket: pulumi.Input[str]
    endpoint: pulumi.Input[str]
    access_key_id: pulumi.Input[str] | None = None
    secret_access_key: pulumi.Input[str] | None = None
    role_arn: str | None = None
    """On S3 with the cluster's OIDC provider: the `backups` role the cluster's service account assumes (no key)."""

    @classmethod
    def from_lake(cls, lake, role_arn: str | None = None) -> BackupTarget:
        bucket = lake.bucket_names.apply(lambda names: names[BACKUP_BUCKET.role])
        if role_arn is not None:
            return cls(bucket=bucket, endpoint=lake.endpoint, role_arn=role_arn)
        credentials = lake.credentials
        return cls(
            bucket=bucket,
            endpoint=lake.endpoint,
            access_key_id=credentials.apply(lambda found: found[BACKUP_BUCKET.writer]["access_key_id"]),
            secret_access_key=credentials.apply(lambda found: found[BACKUP_BUCKET.writer]["secret_access_key"]),
        )


def migrations_hash(folder=MIGRATIONS_DIR) -> str:
    """Short hash of every migration's name and content: the migrations Job's name carries it."""
    digest = hashlib.sha256()
    for migration in discover(folder):
        digest.update(f"{migration.name}\0{migration.checksum}\0".encode())
    return digest.hexdigest()[:10]


def cloudwatch_retention(days: int) -> int:
    return next(allowed for allowed in CLOUDWATCH_RETENTION_DAYS if allowed >= days)


class MetadataDatabase(pulumi.ComponentResource):
    """The metadata PostgreSQL: server, databases, roles, grants, audit, migrations."""

    host: pulumi.Output[str]
    port: int
    databases: pulumi.Output[list[str]]
    credentials: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self,
        name: str,
        config: MetadataSettings,
        catalog: Catalog,
        cluster: ClusterContext,
        stack: StackIdentity,
        retention: RetentionConfig,
        logins: Sequence[DatabaseLogin],
        backups: BackupTarget | None = None,
        event_emails: Sequence[str] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("metadata", "MetadataDatabase"), name, None, opts)
        self._name = name
        self._config = config
        self._stack = stack
        self._retention = retention
        self._event_emails = tuple(event_emails)
        self._identifier = naming.physical_name(stack.name_prefix, stack.stack, "metadata")
        self._cluster = cluster
        self.rds_ca = rds_ca_source(config)
        self._namespace = cluster.namespaces[LAYER]
        self.model = access_model(catalog, logins)
        login: dict[str, pulumi.Input] = {}
        if config.backend == "rds":
            # RDS keeps the master password (Secrets Manager); the provider logs in with an IAM token
            # (components/metadata/iam_login.py), so no password of the master user is in the program or state.
            self.host, admin_user, ca_file, region, first_login = self._rds()
            login = {"aws_rds_iam_auth": True, "aws_rds_iam_region": region}
            provider_opts = self._child(depends_on=[first_login])
            superuser = False
        else:
            if backups is None:
                raise ValueError("the cloudnative-pg backend needs `backups` (the lake's backups bucket)")
            admin_password = random.RandomPassword(f"{name}-admin-password", length=40, special=False,
                                                   opts=self._child())
            self.host, admin_user, ca_file = self._cloudnative_pg(admin_password.result, backups)
            login = {"password": admin_password.result}
            provider_opts = self._child()
            superuser = True
        self.port = PORT
        self.provider = postgresql.Provider(
            f"{name}-postgresql",
            host=self.host,
            port=PORT,
            username=admin_user,
            database="postgres",
            sslmode="verify-full",
            sslrootcert=ca_file,
            superuser=superuser,
            connect_timeout=30,
            opts=provider_opts,
            **login,
        )
        passwords = self._roles()
        databases = self._databases()
        schemas = self._schemas(databases[PLATFORM_DATABASE])
        job = self._migrations_job(passwords[MIGRATOR], databases[PLATFORM_DATABASE], schemas)
        self._grants(databases, schemas, job)
        self.databases = pulumi.Output.from_input(sorted(self.model.databases))
        self.credentials = pulumi.Output.secret(
            {login: {"username": login, "password": password} for login, password in passwords.items()}
        )
        self.register_outputs({"host": self.host, "port": PORT, "databases": self.databases,
                               "credentials": self.credentials})

    # ---- plumbing -----------------------------------------------------------------------------------

    def _child(self, **extra) -> pulumi.ResourceOptions:
        return child_options(self, **extra)

    def _k8s(self, **extra) -> pulumi.ResourceOptions:
        return self._cluster.options(self, **extra)

    def _pg(self, **extra) -> pulumi.ResourceOptions:
        return child_options(self, provider=self.provider, **extra)

    def _secret(self, role: str, secret_name: str, data: dict[str, pulumi.Input[str]],
                type_: str = "Opaque") -> k8s.core.v1.Secret:
        return self._cluster.secret(self, f"{self._name}-{role}-secret", secret_name, self._namespace, data, type_)

    # ---- server: CloudNativePG ----------------------------------------------------------------------

    def _cloudnative_pg(self, admin_password: pulumi.Output[str], backups: BackupTarget):
        config = self._config
        superuser = self._secret("superuser", f"{CLUSTER_NAME}-superuser",
                                 {"username": "postgres", "password": admin_password}, "kubernetes.io/basic-auth")
        backup_credentials = [] if backups.role_arn else [self._secret(
            "backup-credentials", CREDENTIALS_SECRET,
            {ACCESS_KEY_ID: backups.access_key_id, SECRET_ACCESS_KEY: backups.secret_access_key},
        )]
        # Files for pods (the migrations Job mounts it); the backup sidecar reads the same CA from a Secret.
        k8s.core.v1.ConfigMap(
            f"{self._name}-ca",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="platform-ca", namespace=self._namespace),
            data={"ca.crt": self._cluster.ca_pem},
            opts=self._k8s(),
        )
        backup_ca = self._secret("backup-ca", CA_SECRET, {CA_KEY: self._cluster.ca_pem})
        services = [f"{CLUSTER_NAME}-{kind}" for kind in ("rw", "r", "ro")]
        tls_secret = f"{CLUSTER_NAME}-server-tls"
        certificate = k8s.apiextensions.CustomResource(
            f"{self._name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": tls_secret, "namespace": self._namespace},
            spec=server_certificate(
                tls_secret,
                [dns for service in services for dns in service_dns_names(service, LAYER)],
                self._cluster.issuer,
                lifetime=False,
            ),
            opts=self._k8s(depends_on=self._cluster.after("cert-manager")),
        )
        plugin = self._backup_plugin()
        store = k8s.apiextensions.CustomResource(
            f"{self._name}-object-store",
            api_version="barmancloud.cnpg.io/v1",
            kind="ObjectStore",
            metadata={"name": OBJECT_STORE, "namespace": self._namespace},
            spec=object_store_spec(
                destination=pulumi.Output.concat("s3://", backups.bucket, "/", CLUSTER_NAME),
                endpoint=pulumi.Output.from_input(backups.endpoint),
                retention_days=config.backup_retention_days,
                inherit_role=backups.role_arn is not None,
            ),
            opts=self._k8s(depends_on=[*backup_credentials, backup_ca, *plugin]),
        )
        cluster = k8s.apiextensions.CustomResource(
            f"{self._name}-cluster",
            api_version="postgresql.cnpg.io/v1",
            kind="Cluster",
            metadata={"name": CLUSTER_NAME, "namespace": self._namespace},
            spec={
                "instances": config.instances,
                "imageName": pinned(CNPG_IMAGE),
                "enableSuperuserAccess": True,
                "superuserSecret": {"name": superuser.metadata.name},
                "storage": {"size": f"{config.storage_gib}Gi"},
                "certificates": {"serverTLSSecret": tls_secret, "serverCASecret": tls_secret},
                "postgresql": {
                    "parameters": {
                        "pgaudit.log": PGAUDIT_LOG,
                        "pgaudit.log_catalog": "off",
                        "pgaudit.log_relation": "on",
                        "pgaudit.log_parameter": "off",
                        "ssl_min_protocol_version": "TLSv1.2",
                    },
                    # Refuse every connection that is not TLS, before CloudNativePG's own rules.
                    "pg_hba": ["hostnossl all all all reject"],
                },
                # WAL archive and base backups through the Barman Cloud plugin (components/metadata/backups.py).
                "plugins": cluster_plugins(store.metadata["name"]),
                # IRSA: the service account CloudNativePG creates for the Cluster names the `backups` role.
                **({"serviceAccountTemplate": {"metadata": {"annotations": role_annotations(backups.role_arn)}}}
                   if backups.role_arn else {}),
                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}},
            },
            opts=self._k8s(protect=self._stack.protect,
                           depends_on=[certificate, store, *plugin, *self._cluster.after("cloudnative-pg")]),
        )
        k8s.apiextensions.CustomResource(
            f"{self._name}-scheduled-backup",
            api_version="postgresql.cnpg.io/v1",
            kind="ScheduledBackup",
            metadata={"name": f"{CLUSTER_NAME}-daily", "namespace": self._namespace},
            # `immediate`: a first base backup as soon as the schedule exists; until one exists the WAL archive
            # alone restores nothing.
            spec={"schedule": BASE_BACKUP_SCHEDULE, "immediate": True, "backupOwnerReference": "self",
                  "cluster": {"name": cluster.metadata["name"]}, **scheduled_backup_method()},
            opts=self._k8s(),
        )
        # Each instance's exporter (connections, replication, WAL archiving), which the operator serves on the pod's
        # `metrics` port over plain HTTP unless `monitoring.tls` is set.
        Monitoring(f"{self._name}-monitoring", self._cluster,
                   targets=[ScrapeTarget(INSTANCE_MONITOR, LAYER, dict(INSTANCE_LABELS), "metrics", kind="PodMonitor")],
                   rules=backup_alert_rules(LAYER), opts=child_options(self, depends_on=[cluster]))
        host = cluster.metadata["name"].apply(lambda cluster_name: service_host(f"{cluster_name}-rw", LAYER))
        return host, "postgres", self._cluster.ca_file

    def _backup_plugin(self) -> list[pulumi.Resource]:
        """The Barman Cloud plugin's release, beside the operator, where this stack installs the operator; a cluster
        that brings its own operator brings the plugin with it (docs/metadata-and-logs.md)."""
        if "cloudnative-pg" not in self._cluster.operators:
            return []
        spec = plugin_release(self._cluster.replicas)
        return [declare_release(
            f"{self._name}-backup-plugin", spec, self._cluster.namespaces[spec.layer],
            self._k8s(depends_on=self._cluster.after("cert-manager", "cloudnative-pg")),
        )]

    # ---- server: RDS --------------------------------------------------------------------------------

    def _rds(self):
        config, identifier, protect = self._config, self._identifier, self._stack.protect
        network = config.network
        assert network is not None, "the model requires `metadata.network` with backend rds"
        invoke = pulumi.InvokeOutputOptions(parent=self)
        caller = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        region = aws.get_region_output(opts=invoke)
        # Known at preview (the invokes run then), so the pack judges the key policy before anything is created.
        key = aws.kms.Key(
            f"{self._name}-key",
            description=f"Encrypts the {identifier} RDS instance, its snapshots and backups, its master-user "
                        "secret and its CloudWatch log group.",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(partition.partition, caller.account_id, region.region).apply(
                lambda values: metadata_key_policy(values[0], values[1], values[2], identifier)),
            opts=self._child(protect=protect),
        )
        parameters = aws.rds.ParameterGroup(
            f"{self._name}-parameters",
            name=f"{identifier}-pg{config.postgres_version}",
            family=f"postgres{config.postgres_version}",
            description="pgaudit preloaded (ddl, role, write), SSL forced.",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="shared_preload_libraries", value="pgaudit",
                                                    apply_method="pending-reboot"),
                aws.rds.ParameterGroupParameterArgs(name="pgaudit.log", value=PGAUDIT_LOG),
                aws.rds.ParameterGroupParameterArgs(name="pgaudit.log_catalog", value="0"),
                aws.rds.ParameterGroupParameterArgs(name="pgaudit.role", value="rds_pgaudit"),
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="ssl_min_protocol_version", value="TLSv1.2"),
            ],
            opts=self._child(),
        )
        aws.cloudwatch.LogGroup(
            f"{self._name}-log-group",
            name=log_group_name(identifier),
            retention_in_days=cloudwatch_retention(self._retention.audit_days),
            kms_key_id=key.arn,
            opts=self._child(protect=protect),
        )
        subnets = aws.rds.SubnetGroup(
            f"{self._name}-subnets",
            name=f"{identifier}-subnets",
            description=f"Private subnets of the {identifier} instance.",
            subnet_ids=list(network.subnet_ids),
            opts=self._child(),
        )
        instance = aws.rds.Instance(
            f"{self._name}-instance",
            identifier=identifier,
            engine="postgres",
            engine_version=config.postgres_version,
            instance_class=config.instance_class,
            allocated_storage=config.storage_gib,
            max_allocated_storage=config.storage_gib * 4,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            publicly_accessible=False,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            deletion_protection=config.deletion_protection,
            multi_az=config.multi_az,
            backup_retention_period=config.backup_retention_days,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{identifier}-final",
            # Automated backups outlive an instance deleted by mistake, for their retention: its point-in-time
            # restore stays possible (AWS would delete them with the instance otherwise).
            delete_automated_backups=False,
            copy_tags_to_snapshot=True,
            parameter_group_name=parameters.name,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=list(network.security_group_ids),
            ca_cert_identifier="rds-ca-rsa2048-g1",
            auto_minor_version_upgrade=True,
            username=MASTER_USER,
            # RDS generates and keeps the password in Secrets Manager, encrypted with the metadata key.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            tags={"dataplatform:role": "metadata"},
            opts=self._child(protect=protect),
        )
        self._rds_events(instance)
        first_login = MasterIamLogin(
            f"{self._name}-master-iam-login",
            host=instance.address,
            port=PORT,
            user=MASTER_USER,
            secret_arn=instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn if secrets else ""),
            region=region.region,
            opts=self._child(depends_on=[instance]),
        )
        return instance.address, MASTER_USER, config.ca_bundle_file, region.region, first_login

    def _rds_events(self, instance: aws.rds.Instance) -> None:
        """The instance's RDS events (components/metadata/events.py) to an SNS topic encrypted with a key of its own,
        mailed to `event_emails`. ARNs are built from their parts so that the policies are known at preview."""
        identifier, name = self._identifier, f"{self._name}-events"
        invoke = pulumi.InvokeOutputOptions(parent=self)
        caller = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        region = aws.get_region_output(opts=invoke)
        parts = pulumi.Output.all(partition.partition, caller.account_id, region.region)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {topic_name(identifier)} SNS topic (RDS events of {identifier}).",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=parts.apply(lambda values: events_key_policy(
                values[0], values[1], values[2],
                f"arn:{values[0]}:sns:{values[2]}:{values[1]}:{topic_name(identifier)}")),
            opts=self._child(protect=self._stack.protect),
        )
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=topic_name(identifier),
            kms_master_key_id=key.arn,
            tags={"dataplatform:role": "metadata-events"},
            opts=self._child(),
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=parts.apply(lambda values: topic_policy_document(
                f"arn:{values[0]}:sns:{values[2]}:{values[1]}:{topic_name(identifier)}",
                instance_arn(values[0], values[2], values[1], identifier), values[1])),
            opts=self._child(),
        )
        for address in self._event_emails:
            # Named by the address, so that a list reordered replaces no confirmed subscription. Pending until the
            # address confirms from SNS's first mail (docs/backup-and-restore.md).
            aws.sns.TopicSubscription(
                f"{name}-{address}", topic=topic.arn, protocol="email", endpoint=address, opts=self._child(),
            )
        aws.rds.EventSubscription(
            name,
            name=topic_name(identifier),
            sns_topic=topic.arn,
            source_type=EVENT_SOURCE_TYPE,
            source_ids=[instance.identifier],
            event_categories=list(EVENT_CATEGORIES),
            enabled=True,
            tags={"dataplatform:role": "metadata-events"},
            opts=self._child(),
        )

    # ---- inside the server --------------------------------------------------------------------------

    def _roles(self) -> dict[str, pulumi.Output[str]]:
        model: AccessModel = self.model
        self.groups = {
            group: postgresql.Role(
                f"{self._name}-role-{group.replace('_', '-')}",
                name=group,
                login=False,
                superuser=False,
                create_database=False,
                create_role=False,
                inherit=True,
                opts=self._pg(),
            )
            for group in model.groups
        }
        passwords: dict[str, pulumi.Output[str]] = {}
        self.logins = {}
        for login, groups in model.logins.items():
            password = random.RandomPassword(f"{self._name}-{login}-password", length=32, special=False,
                                             opts=self._child())
            passwords[login] = password.result
            self.logins[login] = postgresql.Role(
                f"{self._name}-login-{login}",
                name=login,
                login=True,
                password=password.result,
                superuser=False,
                create_database=False,
                create_role=False,
                inherit=True,
                roles=[self.groups[group].name for group in groups],
                opts=self._pg(),
            )
        return passwords

    def _databases(self) -> dict[str, postgresql.Database]:
        databases = {}
        for database, owner in self.model.databases.items():
            databases[database] = postgresql.Database(
                f"{self._name}-db-{database}",
                name=database,
                owner=self.logins[owner].name,
                encoding="UTF8",
                template="template0",
                opts=self._pg(protect=self._stack.protect),
            )
            postgresql.Extension(
                f"{self._name}-pgaudit-{database}", name="pgaudit", database=databases[database].name,
                opts=self._pg(),
            )
            postgresql.Grant(
                f"{self._name}-revoke-public-{database}", database=databases[database].name, role="public",
                object_type="database", privileges=[], opts=self._pg(),
            )
            postgresql.Grant(
                f"{self._name}-revoke-public-schema-{database}", database=databases[database].name, role="public",
                schema="public", object_type="schema", privileges=[], opts=self._pg(),
            )
        return databases

    def _schemas(self, platform: postgresql.Database) -> dict[str, postgresql.Schema]:
        return {
            schema: postgresql.Schema(
                f"{self._name}-schema-{schema}",
                name=schema,
                database=platform.name,
                owner=self.logins[MIGRATOR].name,
                if_not_exists=True,
                drop_cascade=False,
                opts=self._pg(),
            )
            for schema in self.model.schemas
        }

    def _grants(self, databases: dict[str, postgresql.Database], schemas: dict[str, postgresql.Schema],
                job: pulumi.Resource) -> None:
        model, platform = self.model, databases[PLATFORM_DATABASE]
        connecting = sorted({access.role for access in model.schema_access})
        for role in connecting:
            postgresql.Grant(
                f"{self._name}-connect-{role.replace('_', '-')}", database=platform.name,
                role=self.groups[role].name, object_type="database", privileges=["CONNECT"], opts=self._pg(),
            )
        for access in model.schema_access:
            slug = f"{access.role.replace('_', '-')}-{access.schema}"
            postgresql.Grant(
                f"{self._name}-schema-{slug}", database=platform.name, schema=schemas[access.schema].name,
                role=self.groups[access.role].name, object_type="schema", privileges=list(access.schema_privileges),
                opts=self._pg(),
            )
            if access.table_privileges:
                postgresql.Grant(
                    f"{self._name}-tables-{slug}", database=platform.name, schema=schemas[access.schema].name,
                    role=self.groups[access.role].name, object_type="table", objects=[],
                    privileges=list(access.table_privileges), opts=self._pg(),
                )
        for default in model.default_access:
            slug = f"{default.role}-{default.owner}-{default.schema}".replace("_", "-")
            owner = self.logins[default.owner] if default.owner in self.logins else self.groups[default.owner]
            postgresql.DefaultPrivileges(
                f"{self._name}-default-{slug}", database=platform.name, schema=schemas[default.schema].name,
                owner=owner.name, role=self.groups[default.role].name, object_type="table",
                privileges=list(default.privileges), opts=self._pg(),
            )
        for access in model.table_access:
            # These tables exist once the migrations Job has run.
            postgresql.Grant(
                f"{self._name}-platform-tables-{access.role.replace('_', '-')}", database=platform.name,
                schema=schemas[access.schema].name, role=self.groups[access.role].name, object_type="table",
                objects=list(access.tables), privileges=list(access.privileges), opts=self._pg(depends_on=[job]),
            )

    # ---- migrations ---------------------------------------------------------------------------------

    def _migrations_job(self, password: pulumi.Output[str], platform: postgresql.Database,
                        schemas: dict[str, postgresql.Schema]) -> k8s.batch.v1.Job:
        digest = migrations_hash()
        migrations = discover()
        files = k8s.core.v1.ConfigMap(
            f"{self._name}-migrations",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"metadata-migrations-{digest}", namespace=self._namespace),
            data={migration.name: migration.sql for migration in migrations},
            opts=self._k8s(),
        )
        if self._config.backend == "rds":
            root_cert = RDS_CA_BUNDLE  # shipped in the migrations image
            volumes, mounts = [], []
        else:
            root_cert = f"{CA_MOUNT}/ca.crt"
            volumes = [{"name": "ca", "configMap": {"name": "platform-ca"}}]
            mounts = [{"name": "ca", "mountPath": CA_MOUNT, "readOnly": True}]
        url = pulumi.Output.all(self.logins[MIGRATOR].name, password, self.host, platform.name).apply(
            lambda parts: f"postgresql://{parts[0]}:{parts[1]}@{parts[2]}:{PORT}/{parts[3]}"
            f"?sslmode=verify-full&sslrootcert={root_cert}"
        )
        secret = self._secret("migrator", "metadata-migrator", {"url": url})
        image = platform_image(self._config.migrations_image, self._cluster.images)
        return k8s.batch.v1.Job(
            f"{self._name}-migrations-job",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"metadata-migrations-{digest}", namespace=self._namespace,
                labels={"app.kubernetes.io/name": "metadata-migrations", "dataplatform/migrations": digest},
            ),
            spec={
                "backoffLimit": 3,
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "metadata-migrations"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER,
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "migrations",
                            "image": image,
                            "command": ["python", "-m", "infra.migrations"],
                            "env": [
                                {"name": "METADATA_DATABASE_URL",
                                 "valueFrom": {"secretKeyRef": {"name": secret.metadata.name, "key": "url"}}},
                                {"name": "MIGRATIONS_DIR", "value": MIGRATIONS_MOUNT},
                                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                            ],
                            "volumeMounts": [{"name": "migrations", "mountPath": MIGRATIONS_MOUNT, "readOnly": True},
                                             *mounts],
                            "securityContext": {"allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]},
                                                "readOnlyRootFilesystem": True, "runAsNonRoot": True},
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                          "limits": {"cpu": "250m", "memory": "128Mi"}},
                        }],
                        "volumes": [{"name": "migrations", "configMap": {"name": files.metadata.name}}, *volumes],
                    },
                },
            },
            opts=self._k8s(depends_on=[schemas["platform"]]),
        )
