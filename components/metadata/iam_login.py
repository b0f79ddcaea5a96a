"""The RDS master user logs in with IAM database authentication: `MasterIamLogin`, a dynamic resource run once.

RDS keeps the master password itself (`manage_master_user_password`, in Secrets Manager, encrypted with the
metadata key), so neither the program nor its state ever holds it. The PostgreSQL provider logs in as the master
user with an IAM token (pulumi-postgresql's `aws_rds_iam_auth`), which needs the master user to be a member of
`rds_iam`; granting it takes one login with the password. This resource makes that login during `pulumi up`, from
the deployer's machine: it reads the secret from Secrets Manager with the deployer's AWS credentials, connects
with TLS verified against the RDS CA bundle, grants `rds_iam` to the master user, and keeps nothing but the host,
the user and the secret's ARN. From then on IAM authentication takes precedence over the password for that user
(RDS User Guide, "Database authentication with Amazon RDS": "If the rds_iam role is added to the master user, IAM
authentication takes precedence over password authentication"), so the secret is a break-glass only.

The CA bundle's path is the deployer's own (`metadata.caBundleFile`, which differs between machines): it is no input
of the resource, so it is neither in the state nor a change when another deployer runs `pulumi up`. The provider
reads it from the stack's config when the engine configures it (`configure`: the engine hands dynamic providers
the whole stack config, other namespaces' keys too, as
pulumi/pulumi/tests/integration/dynamic/python-config/__main__.py@c8bf1862 reads them), as the PostgreSQL
provider's `sslrootcert` is set from the same key.

Its life, for a grant made once:
- create: when the master already logs in with an IAM token as a member of rds_iam (a state lost, a grant made by
  hand), nothing; otherwise the password login and the grant.
- diff: another host or user is a replacement (its own first login); anything else (a rotated secret, its ARN,
  the region) changes nothing, so update only records the inputs and logs in nowhere.
- read (refresh): logs in as the master with an IAM token (rds `generate_db_auth_token`, the deployer's
  credentials, as the PostgreSQL provider does) and asks whether it is still a member of rds_iam. A token refused
  for a password failure, or a login that is not a member, means the grant is gone: the refresh reports the resource
  gone and the next `pulumi up` makes the grant again (the password is the master's login again by then).
- delete: leaves the grant. Revoking it would lock the PostgreSQL provider out and make the password the master's
  login again; the grant goes with the instance. docs/decisions/0053-rds-iam-login-and-key-policies.md.

pulumi-aws 7.51 has no `master_user_authentication_type` on `rds.Instance` (the RDS API's `iam-db-auth`, which would
make the master user IAM-only from creation); docs/decisions/0053-rds-iam-login-and-key-policies.md.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

RDS_IAM_ROLE = "rds_iam"
# The stack config key (and its field) that holds the deployer's RDS CA bundle (components/metadata/config.py).
CA_CONFIG_KEY = "metadata"
CA_CONFIG_FIELD = "caBundleFile"
# How PostgreSQL (and RDS) refuse a login's credentials: RDS answers a token for a user outside rds_iam as a wrong
# password, and a refused token as a PAM failure.
REFUSED_LOGIN = ("password authentication failed", "PAM authentication failed")


def grant_rds_iam(connection: Any, user: str) -> bool:
    """Make `user` a member of rds_iam on an open connection; True when it was not one already."""
    if is_member(connection, user):
        return False
    from psycopg import sql

    connection.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(RDS_IAM_ROLE), sql.Identifier(user)))
    return True


def is_member(connection: Any, user: str) -> bool:
    return bool(connection.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (user, RDS_IAM_ROLE)).fetchone()[0])


def master_password(secret_arn: str, region: str, client: Any = None) -> str:
    """The master password from the RDS-managed secret (a JSON document with `username` and `password`)."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager", region_name=region)
    answer = client.get_secret_value(SecretId=secret_arn)
    return json.loads(answer["SecretString"])["password"]


def iam_token(props: dict[str, Any], rds_client: Any = None) -> str:
    """An IAM authentication token for the master user: signed locally with the deployer's AWS credentials."""
    if rds_client is None:
        import boto3

        rds_client = boto3.client("rds", region_name=props["region"])
    return rds_client.generate_db_auth_token(DBHostname=props["host"], Port=int(props["port"]),
                                             DBUsername=props["user"], Region=props["region"])


def ca_bundle_file(config: Any) -> str:
    """The deployer's RDS CA bundle from the stack config the engine hands the provider (`dataplatform:metadata`,
    an object: the engine passes it as JSON text)."""
    value = config.get(CA_CONFIG_KEY)
    section = json.loads(value) if isinstance(value, str) else (value or {})
    path = section.get(CA_CONFIG_FIELD) if isinstance(section, dict) else None
    if not path:
        raise ValueError(f"the master's first login verifies RDS with `{CA_CONFIG_KEY}.{CA_CONFIG_FIELD}` of the stack "
                         "config, which is unset: set it to the RDS CA bundle's path on this machine")
    return str(path)


def _connect(props: dict[str, Any], ca_file: str, password: str) -> Any:
    import psycopg

    return psycopg.connect(host=props["host"], port=int(props["port"]), dbname="postgres", user=props["user"],
                           password=password, sslmode=props.get("sslmode", "verify-full"), sslrootcert=ca_file,
                           connect_timeout=30, autocommit=True)


def bootstrap(props: dict[str, Any], ca_file: str, secrets_client: Any = None) -> None:
    """One password login as the master user, to grant it rds_iam."""
    if not props.get("secret_arn"):
        raise ValueError(f"the RDS instance at {props['host']} reports no master-user secret: it needs "
                         "manage_master_user_password (components/metadata/component.py)")
    password = master_password(props["secret_arn"], props["region"], secrets_client)
    with _connect(props, ca_file, password) as connection:
        grant_rds_iam(connection, props["user"])


def logs_in_with_iam(props: dict[str, Any], ca_file: str, rds_client: Any = None) -> bool:
    """Whether the master logs in with an IAM token and is a member of rds_iam (what the PostgreSQL provider needs)."""
    import psycopg

    try:
        with _connect(props, ca_file, iam_token(props, rds_client)) as connection:
            return is_member(connection, props["user"])
    except psycopg.OperationalError as error:
        if any(refusal in str(error) for refusal in REFUSED_LOGIN):
            return False
        raise


class _Provider(dynamic.ResourceProvider):
    ca_file: str | None = None

    def configure(self, req: dynamic.ConfigureRequest) -> None:
        self.ca_file = ca_bundle_file(req.config)

    def _ca(self) -> str:
        if self.ca_file is None:
            raise ValueError("the MasterIamLogin provider was not configured with the stack config (it reads "
                             f"`{CA_CONFIG_KEY}.{CA_CONFIG_FIELD}` there)")
        return self.ca_file

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        if not logs_in_with_iam(props, self._ca()):
            bootstrap(props, self._ca())
        return dynamic.CreateResult(id_=f"{props['host']}/{props['user']}", outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # Another server or user needs its own first login; anything else (a rotated secret) changes nothing.
        replaces = [key for key in ("host", "user") if olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        # The grant stands; the inputs that changed (the secret's ARN, the region) are recorded, nothing logs in.
        return dynamic.UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        if not logs_in_with_iam(props, self._ca()):
            return dynamic.ReadResult(id_="", outs={})  # the grant is gone: the next apply makes it again
        return dynamic.ReadResult(id_=id_, outs=dict(props))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Revoking rds_iam would leave the provider unable to log in; the grant goes with the instance.
        return None


class MasterIamLogin(dynamic.Resource, module="metadata", name="MasterIamLogin"):
    """Grants rds_iam to the RDS master user once, with the password read from Secrets Manager at apply time; the CA
    bundle comes from the deployer's stack config (`metadata.caBundleFile`), not from the inputs."""

    def __init__(self, name: str, host: pulumi.Input[str], port: int, user: str, secret_arn: pulumi.Input[str],
                 region: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_Provider(), name, {"host": host, "port": port, "user": user, "secret_arn": secret_arn,
                                             "region": region, "sslmode": "verify-full"}, opts)
