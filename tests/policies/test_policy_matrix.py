"""Proves the role-to-layer matrix policies (policies/matrix.py, and DP-DRM-004's `grants`) pass what the matrix
implies however it is written, and report exactly what it does not, with their messages; and that the matrix the
generator writes is the one the program's grant helpers declare."""

from __future__ import annotations

import json

import pytest
from policy_eval import violations
from policy_fixtures import Stack

from infra.offline import policy_config
from infra.offline.role_matrix import SETTING_KEYS, matrix_settings

MATRIX_POLICIES = set(SETTING_KEYS)
PROD = matrix_settings(policy_config.stack_config("prod"))
MATRIX = "the catalog's role-to-layer matrix (policies/config/<stack>.json, written by `make policy-config`)"


def judged(type_: str, inputs: dict, name: str = "thing", config: dict | None = None) -> set[tuple[str, str, str]]:
    stack = Stack("prod", preview=False)
    stack.add(type_, name, inputs)
    return {found for found in violations(stack.recording, config if config is not None else PROD)
            if found[0] in MATRIX_POLICIES}


def user_policy(*statements: dict, user: str = "dataplatform-prod-query-engine") -> dict:
    return {"user": user, "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


def allow(action, resource, sid="S") -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


BRONZE = "arn:aws:s3:::dataplatform-prod-bronze"
GOLD = "arn:aws:s3:::dataplatform-prod-gold"


@pytest.mark.parametrize("statements", [
    [allow(["s3:GetObject"], [f"{BRONZE}/*", f"{GOLD}/*"])],
    [allow("s3:getobject", f"{GOLD}/marts/*"), allow("S3:ListBucket", GOLD, "L")],
    [allow("s3:ListAllMyBuckets", "*"), {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}],
    [allow("kms:Decrypt", "arn:aws:kms:eu-west-1:111122223333:key/k")],
], ids=["as-declared", "narrower-and-case", "unscoped-and-deny", "not-s3"])
def test_pass_identity_policy_the_matrix_implies(statements):
    assert judged("aws:iam/userPolicy:UserPolicy", user_policy(*statements)) == set()


@pytest.mark.parametrize(("statement", "listed"), [
    (allow("s3:PutObject", f"{BRONZE}/*"), f"s3:PutObject on {BRONZE}/*"),
    (allow("s3:Get*", f"{GOLD}/*"), f"s3:Get* on {GOLD}/*"),
    (allow("s3:GetObject", "arn:aws:s3:::dataplatform-prod-logs/*"),
     "s3:GetObject on arn:aws:s3:::dataplatform-prod-logs/*"),
    ({"Sid": "N", "Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": f"{GOLD}/*"},
     "N: NotAction/NotResource"),
])
def test_fail_identity_policy_beyond_the_matrix(statement, listed):
    assert judged("aws:iam/userPolicy:UserPolicy", user_policy(statement)) == {(
        "aws-iam-policy-require-catalog-access", "thing",
        f"Identity policy 'thing' of 'dataplatform-prod-query-engine' allows {listed}, which {MATRIX} does not imply; "
        "grant only the layers the identity's catalog role reads and writes.")}


def test_fail_identity_the_matrix_does_not_list():
    assert judged("minio:index/iamPolicy:IamPolicy", {"name": "stranger", "policy": json.dumps(
        {"Statement": [allow("s3:GetObject", f"{GOLD}/*")]})}) == {(
            "aws-iam-policy-require-catalog-access", "thing",
            f"Identity policy 'thing' gives S3 access to 'stranger', an identity {MATRIX} does not list; derive "
            "identities from the catalog's roles (components/storage/access.py) or add the role to the catalog.")}


def test_without_a_matrix_nothing_is_judged():
    assert judged("aws:iam/userPolicy:UserPolicy", user_policy(allow("s3:PutObject", f"{BRONZE}/*")), config={}) \
        == set()


def pg_grant(role: str, privileges: list[str], **extra) -> dict:
    return {"database": "platform", "role": role, "privileges": privileges, **extra}


@pytest.mark.parametrize("inputs", [
    pg_grant("analyst", ["SELECT"], schema="gold", objectType="table", objects=["customers"]),
    pg_grant("transformation", ["UPDATE", "SELECT"], schema="gold", objectType="table", objects=[]),
    pg_grant("public", [], objectType="database"),
], ids=["one-table", "fewer-reordered", "revoke"])
def test_pass_pg_grant_the_matrix_implies(inputs):
    assert judged("postgresql:index/grant:Grant", inputs) == set()


def test_fail_pg_grant_beyond_the_matrix():
    inputs = pg_grant("analyst", ["SELECT", "INSERT"], schema="gold", objectType="table", objects=[],
                      withGrantOption=True)
    assert judged("postgresql:index/grant:Grant", inputs) == {(
        "postgresql-grant-require-catalog-access", "thing",
        f"PostgreSQL grant 'thing' gives role 'analyst' INSERT on table/platform/gold/*; WITH GRANT OPTION, which "
        f"{MATRIX} does not imply; grant only what the role's catalog layers need (components/metadata/access.py).")}


def test_fail_pg_default_privileges_for_an_owner_the_matrix_does_not_give():
    inputs = {"database": "platform", "schema": "bronze", "owner": "ingestion", "role": "analyst",
              "objectType": "table", "privileges": ["SELECT"]}
    assert judged("postgresql:index/defaultPrivileges:DefaultPrivileges", inputs) == {(
        "postgresql-grant-require-catalog-access", "thing",
        f"PostgreSQL default privileges 'thing' gives role 'analyst' SELECT on default/platform/bronze/ingestion, "
        f"which {MATRIX} does not imply; grant only what the role's catalog layers need "
        "(components/metadata/access.py).")}


def test_superset_role():
    analyst = PROD["superset-role-require-catalog-access"]["roles"]["analyst"]
    permissions = [pair for pair in reversed(analyst) if pair[0] != "datasource_access"]
    assert judged("pulumi-python:dynamic/superset:Role", {"name": "analyst", "permissions": [
        *permissions, ["datasource_access", "[dremio].[daily_revenue](id:3)"]]}) == set()
    assert judged("pulumi-python:dynamic/superset:Role", {"name": "analyst", "permissions": [
        *permissions, ["can_write", "Dashboard"]]}) == {(
            "superset-role-require-catalog-access", "thing",
            f"Superset role 'analyst' holds can_write on Dashboard, which {MATRIX} does not imply; remove them (a role "
            "that needs more is a change to the catalog).")}


def es_role(name: str, cluster: list[str], *indices: dict) -> dict:
    return {"name": name, "role": {"cluster": cluster, "indices": list(indices), "run_as": [], "applications": []}}


def test_elasticsearch_role():
    narrower = {"names": ["platform-audit-2026.*"], "privileges": ["view_index_metadata", "read"]}
    assert judged("pulumi-python:dynamic/elasticsearch:Role", es_role("log-reader", ["monitor"], narrower)) == set()
    audit = {"names": ["platform-audit-*"], "privileges": ["read"], "allow_restricted_indices": False}
    assert judged("pulumi-python:dynamic/elasticsearch:Role", es_role("snapshot-monitor", ["monitor"], audit)) == {(
        "elasticsearch-role-require-catalog-access", "thing",
        f"Elasticsearch role 'snapshot-monitor' grants read on platform-audit-*, which {MATRIX} does not imply; "
        "remove them (a role that needs more is a change to the catalog).")}


def test_elasticsearch_user():
    assert judged("pulumi-python:dynamic/elasticsearch:User", {"name": "log-shipper", "roles": ["log-writer"]}) == set()
    assert judged("pulumi-python:dynamic/elasticsearch:User",
                  {"name": "log-shipper", "roles": ["log-writer", "log-reader"]}) == {(
        "elasticsearch-role-require-catalog-access", "thing",
        f"Elasticsearch user 'log-shipper' holds the role(s) log-reader, which {MATRIX} does not give it; "
        "remove them.")}


def key_policy(principal) -> dict:
    return {"keyId": "k", "policy": json.dumps({"Statement": [
        {"Sid": "Use", "Effect": "Allow", "Principal": principal, "Action": "kms:Decrypt", "Resource": "*"}]})}


@pytest.mark.parametrize("principal", [
    {"AWS": "arn:aws:iam::111122223333:role/x"}, {"AWS": "111122223333"}, {"Service": "logs.amazonaws.com"}])
def test_pass_own_account_and_service_principals(principal):
    assert judged("aws:kms/keyPolicy:KeyPolicy", key_policy(principal)) == set()


def test_fail_foreign_account_principal():
    assert judged("aws:kms/keyPolicy:KeyPolicy", key_policy({"AWS": ["arn:aws:iam::999988887777:root"]})) == {(
        "aws-kms-key-policy-disallow-foreign-principals", "thing",
        "Key policy 'thing' statement Use allows principals of AWS account(s) 999988887777, not the stack's "
        "(111122223333); share through the stack's own roles instead of another account's.")}
    bucket = {"bucket": "b", "policy": key_policy({"AWS": "999988887777"})["policy"]}
    assert {policy for policy, _, _ in judged("aws:s3/bucketPolicy:BucketPolicy", bucket)} == {
        "aws-s3-bucket-policy-disallow-foreign-principals"}


def test_fail_account_principals_while_the_pack_is_not_told_the_accounts():
    config = {**PROD, "aws-kms-key-policy-disallow-foreign-principals": {"accountIds": []}}
    assert judged("aws:kms/key:Key", key_policy({"AWS": "arn:aws:iam::111122223333:root"}), config=config) == {(
        "aws-kms-key-policy-disallow-foreign-principals", "thing",
        "KMS key 'thing' names AWS account principals (111122223333) but the pack is not told the stack's accounts; "
        "set `aws.allowedAccountIds` in the stack config and run `make policy-config`.")}


def test_dremio_matrix_refuses_public_and_the_raw_source_beyond_the_transformation():
    stack = Stack("prod", preview=False)
    stack.add("pulumi-python:dynamic/dremio:Grants", "lake", {"path": ["lake"], "grants": [
        {"granteeType": "USER", "name": "dbt", "privileges": ["SELECT"]},
        {"granteeType": "ROLE", "name": "analyst", "privileges": ["SELECT"]}]})
    stack.add("pulumi-python:dynamic/dremio:Grants", "gold", {"path": ["gold"], "grants": [
        {"granteeType": "ROLE", "name": "PUBLIC", "privileges": ["SELECT"]},
        {"granteeType": "ROLE", "name": "analyst", "privileges": ["SELECT"]}]})
    found = {(name, message) for policy, name, message in violations(stack.recording, PROD)
             if policy == "dremio-grants-require-least-privilege"}
    assert found == {
        ("lake", "Dremio grants on 'lake' give role 'analyst' SELECT, but the catalog's role-to-layer matrix gives it "
                 "nothing there (the raw lake source is for the transformation alone); remove the grant or change "
                 "the catalog's roles and run `make policy-config`."),
        ("gold", "Dremio grants on 'gold' give PUBLIC (every user, present and future) SELECT; grant the catalog role "
                 "that needs it instead."),
    }


def test_generated_matrix_is_the_programs_grants():
    """Spot checks against the catalog: consumers read gold only, the query engine never writes, dbt alone reads the
    raw lake source, the exporter reads no index."""
    iam = PROD["aws-iam-policy-require-catalog-access"]["principals"]
    engine = iam["dataplatform-prod-query-engine"]
    assert not any("s3:PutObject" in actions for actions in engine.values())
    assert set(engine) == {f"arn:aws:s3:::dataplatform-prod-{layer}{tail}" for layer in ("bronze", "silver", "gold")
                           for tail in ("", "/*")}
    pg = PROD["postgresql-grant-require-catalog-access"]["roles"]
    assert {target for target in pg["analyst"] if "bronze" in target or "silver" in target} == set()
    assert PROD["dremio-grants-require-least-privilege"]["grants"]["lake"] == {"USER:dbt": ["SELECT"]}
    es = PROD["elasticsearch-role-require-catalog-access"]["roles"]
    assert es["snapshot-monitor"]["indices"] == {}
    assert PROD["aws-s3-bucket-policy-disallow-foreign-principals"] == {"accountIds": ["111122223333"]}


def test_role_trust_policy_from_another_account():
    trust = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Cluster", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
         "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.example/id/X"}}]}
    assert judged("aws:iam/role:Role", {"assumeRolePolicy": json.dumps(trust)}) == set()
    trust["Statement"].append({"Sid": "Partner", "Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"AWS": "arn:aws:iam::999988887777:role/ci"}})
    assert judged("aws:iam/role:Role", {"assumeRolePolicy": json.dumps(trust)}) == {(
        "aws-iam-role-trust-disallow-foreign-principals", "thing",
        "IAM role trust policy 'thing' statement Partner allows principals of AWS account(s) 999988887777, not the "
        "stack's (111122223333); share through the stack's own roles instead of another account's.")}


@pytest.mark.parametrize("inputs", [
    {"name": "dremio", "roles": ["query_engine"]},
    {"name": "query_engine", "roles": []},
    {"name": "dremio"},
], ids=["login-its-group", "group-none", "no-roles"])
def test_pass_pg_membership_the_matrix_implies(inputs):
    assert judged("postgresql:index/role:Role", inputs) == set()
    assert judged("postgresql:index/grantRole:GrantRole", {"role": "dremio", "grantRole": "query_engine"}) == set()


@pytest.mark.parametrize(("type_", "inputs", "problem"), [
    ("postgresql:index/role:Role", {"name": "dremio", "roles": ["ingestion", "query_engine"]},
     "role 'dremio' membership in ingestion"),
    ("postgresql:index/grantRole:GrantRole", {"role": "analyst", "grantRole": "transformation"},
     "role 'analyst' membership in transformation"),
    ("postgresql:index/grantRole:GrantRole", {"role": "dbt", "grantRole": "transformation", "withAdminOption": True},
     "role 'dbt' WITH ADMIN OPTION"),
    ("postgresql:index/role:Role", {"name": "intruder", "roles": ["bi"]},
     "role 'intruder' (a role the matrix does not list) membership in bi"),
], ids=["login-other-group", "group-in-group", "admin-option", "unlisted-role"])
def test_fail_pg_membership_beyond_the_matrix(type_, inputs, problem):
    assert judged(type_, inputs) == {(
        "postgresql-grant-require-catalog-access", "thing",
        f"PostgreSQL role 'thing' gives {problem}, which {MATRIX} does not imply (a member holds every privilege of "
        "its groups); make a login a member of its service's catalog role only (components/metadata/access.py).")}


BACKUPS = "arn:aws:s3:::dataplatform-prod-backups"
SNAPSHOTS = "dataplatform-prod-elasticsearch-snapshots"


def listing(condition=None) -> dict:
    return {**allow("s3:ListBucket", BACKUPS, "L"), **({"Condition": condition} if condition is not None else {})}


@pytest.mark.parametrize("condition", [
    {"StringLike": {"s3:prefix": ["elasticsearch/*"]}},
    {"StringLike": {"s3:Prefix": "elasticsearch/indices/*"}, "Bool": {"aws:SecureTransport": "true"}},
    {"StringEquals": {"s3:prefix": ["elasticsearch/index-0"]}},
], ids=["as-declared", "narrower-case-extra", "equals"])
def test_pass_listing_with_the_recorded_condition(condition):
    assert judged("aws:iam/rolePolicy:RolePolicy", user_policy(listing(condition), user=SNAPSHOTS)
                  | {"role": SNAPSHOTS}) == set()


@pytest.mark.parametrize("condition", [
    None,
    {"StringLike": {"s3:prefix": ["*"]}},
    {"StringLikeIfExists": {"s3:prefix": ["elasticsearch/*"]}},
    {"StringLike": {"s3:delimiter": ["/"]}},
], ids=["removed", "widened", "if-exists", "other-key"])
def test_fail_listing_without_the_recorded_condition(condition):
    assert judged("aws:iam/rolePolicy:RolePolicy", user_policy(listing(condition), user=SNAPSHOTS)
                  | {"role": SNAPSHOTS}) == {(
        "aws-iam-policy-require-catalog-access", "thing",
        f"Identity policy 'thing' of '{SNAPSHOTS}' allows s3:ListBucket on {BACKUPS} without the condition "
        f"StringLike s3:prefix elasticsearch/*, which {MATRIX} does not imply; grant only the layers the identity's "
        "catalog role reads and writes.")}


def test_generated_conditions_and_memberships_are_the_programs():
    iam = PROD["aws-iam-policy-require-catalog-access"]["conditions"]
    assert iam == {SNAPSHOTS: {BACKUPS: {"s3:ListBucket": {"StringLike": {"s3:prefix": ["elasticsearch/*"]}}}}}
    members = PROD["postgresql-grant-require-catalog-access"]["memberships"]
    assert members["dremio"] == ["query_engine"] and members["migrator"] == [] and members["ingestion"] == []
