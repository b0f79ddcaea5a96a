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

pulumi-aws 7.51 has no `master_user_authentication_type` on `rds.Instance` (the RDS API's `iam-db-auth`, which would
make the master user IAM-only from creation); docs/decisions/0053-rds-iam-login-and-key-policies.md.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

RDS_IAM_ROLE = "rds_iam"


def grant_rds_iam(connection: Any, user: str) -> bool:
    """Make `user` a member of rds_iam on an open connection; True when it was not one already."""
    member = connection.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (user, RDS_IAM_ROLE)).fetchone()[0]
    if member:
        return False
    from psycopg import sql

    connection.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(RDS_IAM_ROLE), sql.Identifier(user)))
    return True


def master_password(secret_arn: str, region: str, client: Any = None) -> str:
    """The master password from the RDS-managed secret (a JSON document with `username` and `password`)."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager", region_name=region)
    answer = client.get_secret_value(SecretId=secret_arn)
    return json.loads(answer["SecretString"])["password"]


def bootstrap(props: dict[str, Any], secrets_client: Any = None) -> None:
    """One password login as the master user, to grant it rds_iam."""
    import psycopg

    if not props.get("secret_arn"):
        raise ValueError(f"the RDS instance at {props['host']} reports no master-user secret: it needs "
                         "manage_master_user_password (components/metadata/component.py)")
    password = master_password(props["secret_arn"], props["region"], secrets_client)
    with psycopg.connect(host=props["host"], port=int(props["port"]), dbname="postgres", user=props["user"],
                         password=password, sslmode=props.get("sslmode", "verify-full"),
                         sslrootcert=props["ca_file"], connect_timeout=30, autocommit=True) as connection:
        grant_rds_iam(connection, props["user"])


class _Provider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        bootstrap(props)
        return dynamic.CreateResult(id_=f"{props['host']}/{props['user']}", outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # Another server or user needs its own first login; anything else (a rotated secret) changes nothing.
        replaces = [key for key in ("host", "user") if olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Revoking rds_iam would leave the provider unable to log in; the grant goes with the instance.
        return None


class MasterIamLogin(dynamic.Resource, module="metadata", name="MasterIamLogin"):
    """Grants rds_iam to the RDS master user once, with the password read from Secrets Manager at apply time."""

    def __init__(self, name: str, host: pulumi.Input[str], port: int, user: str, secret_arn: pulumi.Input[str],
                 region: pulumi.Input[str], ca_file: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_Provider(), name, {"host": host, "port": port, "user": user, "secret_arn": secret_arn,
                                             "region": region, "ca_file": ca_file, "sslmode": "verify-full"}, opts)
