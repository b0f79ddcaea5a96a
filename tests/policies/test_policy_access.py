"""Proves each access and protection policy of policies/access.py passes a compliant resource and reports exactly the
mistaken one, with its message."""

from __future__ import annotations

import json

import pytest
from policy_eval import violations
from policy_fixtures import Stack

ACCESS_POLICIES = {
    "aws-kms-key-policy-disallow-public-principal", "aws-kms-key-configure-deletion-window",
    "aws-iam-policy-disallow-wildcard-buckets", "postgresql-role-disallow-privileged-attributes",
    "postgresql-grant-disallow-public", "superset-role-require-read-only-analyst",
    "elasticsearch-user-disallow-builtin-admin-roles", "kubernetes-network-policy-disallow-open-ingress",
    "kubernetes-network-policy-disallow-open-egress", "platform-data-require-protect",
    "aws-cloudwatch-log-group-configure-audit-retention",
}
ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"}


def judged(type_: str, inputs: dict, *, protect: bool = True, name: str = "thing") -> set[tuple[str, str, str]]:
    stack = Stack("prod", preview=False)
    stack.add(type_, name, inputs, protect=protect)
    return {found for found in violations(stack.recording) if found[0] in ACCESS_POLICIES}


def key_policy(*statements: dict) -> dict:
    return {"keyId": "k", "policy": json.dumps({"Version": "2012-10-17", "Statement": [ADMIN, *statements]})}


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111122223333:user/a", "*"]}])
def test_fail_key_policy_with_a_wildcard_principal(principal):
    statement = {"Sid": "Open", "Effect": "Allow", "Principal": principal, "Action": "kms:Decrypt", "Resource": "*"}
    assert judged("aws:kms/keyPolicy:KeyPolicy", key_policy(statement)) == {(
        "aws-kms-key-policy-disallow-public-principal", "thing",
        "Key policy 'thing' statement Open allows any AWS principal; name the roles and users that need the key "
        "instead of `*`.")}


def test_pass_key_policy_with_a_service_principal_and_a_deny_to_everyone():
    service = {"Sid": "Logs", "Effect": "Allow", "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
               "Action": "kms:Encrypt*", "Resource": "*"}
    deny = {"Sid": "Deny", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}
    assert judged("aws:kms/keyPolicy:KeyPolicy", key_policy(service, deny)) == set()


@pytest.mark.parametrize(("window", "expected"), [(None, set()), (30.0, set()), (7.0, {(
    "aws-kms-key-configure-deletion-window", "thing",
    "KMS key 'thing' can be deleted 7 days after it is scheduled for deletion; set deletionWindowInDays to at least "
    "30 (AWS's maximum and default is 30).")})])
def test_key_deletion_window(window, expected):
    inputs = {"enableKeyRotation": True} | ({"deletionWindowInDays": window} if window else {})
    assert judged("aws:kms/key:Key", inputs) == expected


@pytest.mark.parametrize("type_", ["aws:iam/userPolicy:UserPolicy", "minio:index/iamPolicy:IamPolicy"])
def test_fail_identity_policy_granting_buckets_by_wildcard(type_):
    document = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                               "Resource": ["arn:aws:s3:::gold/*", "arn:aws:s3:::*/*", "arn:aws:s3:::dp-*"]}]}
    assert judged(type_, {"policy": json.dumps(document)}) == {(
        "aws-iam-policy-disallow-wildcard-buckets", "thing",
        "Identity policy 'thing' grants access to buckets by wildcard (arn:aws:s3:::*/*, arn:aws:s3:::dp-*); name the "
        "buckets the identity needs.")}


def test_pass_identity_policy_with_object_wildcards_in_named_buckets():
    document = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::gold/*"}]}
    assert judged("aws:iam/userPolicy:UserPolicy", {"policy": json.dumps(document)}) == set()


def test_postgresql_role_attributes():
    role = {"name": "analyst", "login": False, "createRole": False, "createDatabase": False}
    assert judged("postgresql:index/role:Role", role) == set()
    assert judged("postgresql:index/role:Role", role | {"createRole": True, "bypassRowLevelSecurity": True}) == {(
        "postgresql-role-disallow-privileged-attributes", "thing",
        "PostgreSQL role 'analyst' has CREATEROLE, BYPASSRLS; set createRole, bypassRowLevelSecurity to false: only "
        "the bootstrap admin administers roles, databases and replication.")}


def test_postgresql_grants_to_public():
    revoke = {"role": "public", "database": "platform", "objectType": "database", "privileges": []}
    assert judged("postgresql:index/grant:Grant", revoke) == set()
    assert judged("postgresql:index/grant:Grant", revoke | {"privileges": ["CONNECT"]}) == {(
        "postgresql-grant-disallow-public", "thing",
        "PostgreSQL grant 'thing' gives PUBLIC (every role) CONNECT on database platform; grant it to the catalog "
        "role that needs it.")}


def test_superset_analyst_role():
    role = {"name": "analyst", "permissions": [["can_read", "Dashboard"], ["datasource_access", "[dremio].[x]"]]}
    assert judged("pulumi-python:dynamic/superset:Role", role) == set()
    widened = {**role, "permissions": [*role["permissions"], ["can_write", "Chart"], ["all_database_access", "x"]]}
    assert judged("pulumi-python:dynamic/superset:Role", widened) == {(
        "superset-role-require-read-only-analyst", "thing",
        "Superset role 'analyst' is read-only but holds all_database_access on x; can_write on Chart; remove those "
        "permissions (give writers a role of their own).")}
    assert judged("pulumi-python:dynamic/superset:Role", {**widened, "name": "bundle-importer"}) == set()


def test_elasticsearch_built_in_roles():
    user = {"name": "log-shipper", "roles": ["log-writer"]}
    assert judged("pulumi-python:dynamic/elasticsearch:User", user) == set()
    assert judged("pulumi-python:dynamic/elasticsearch:User", user | {"roles": ["log-writer", "superuser"]}) == {(
        "elasticsearch-user-disallow-builtin-admin-roles", "thing",
        "Elasticsearch user 'log-shipper' holds the built-in role superuser; give it only the platform's own "
        "least-privilege roles.")}


@pytest.mark.parametrize("rule", [{}, {"from": [{}]}, {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
def test_fail_network_policy_admitting_every_source(rule):
    policy = {"metadata": {"name": "web-ingress"}, "spec": {"podSelector": {}, "ingress": [rule]}}
    assert judged("kubernetes:networking.k8s.io/v1:NetworkPolicy", policy) == {(
        "kubernetes-network-policy-disallow-open-ingress", "thing",
        "NetworkPolicy 'web-ingress' ingress rule 0 admits every source; name the pods, namespaces or address ranges "
        "that may connect.")}


def test_pass_network_policy_with_named_sources():
    rule = {"from": [{"podSelector": {"matchLabels": {"app": "x"}}},
                     {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}
    policy = {"metadata": {"name": "web-ingress"}, "spec": {"podSelector": {}, "ingress": [rule]}}
    assert judged("kubernetes:networking.k8s.io/v1:NetworkPolicy", policy) == set()


@pytest.mark.parametrize(("rule", "seen"), [
    ({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}, "to 0.0.0.0/0, no ports"),
    ({"to": [{"podSelector": {}}, {"ipBlock": {"cidr": "::/0"}}], "ports": []}, "to ::/0, no ports"),
    ({}, "no to, no ports"),
    ({"to": [{}], "ports": [{"protocol": "UDP"}]}, "an empty peer in to, a UDP entry with no port"),
])
def test_fail_network_policy_egress_to_any_address_on_every_port(rule, seen):
    policy = {"metadata": {"name": "dremio-egress"}, "spec": {"podSelector": {}, "egress": [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}, rule]}}
    assert judged("kubernetes:networking.k8s.io/v1:NetworkPolicy", policy) == {(
        "kubernetes-network-policy-disallow-open-egress", "thing",
        f"NetworkPolicy 'dremio-egress' egress rule 1 lets its pods reach any address on every port ({seen}); list "
        "the ports in the rule's ports, or the address ranges in its to (the stack config's CIDR keys give the "
        "program's flows theirs).")}


@pytest.mark.parametrize("rule", [
    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]},
    {"ports": [{"protocol": "UDP", "port": 53}]},
    {"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]},
    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]},
    {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dp-lakehouse"}}}]},
])
def test_pass_network_policy_egress_naming_ports_or_addresses(rule):
    policy = {"metadata": {"name": "dremio-egress"}, "spec": {"podSelector": {}, "egress": [rule]}}
    assert judged("kubernetes:networking.k8s.io/v1:NetworkPolicy", policy) == set()


@pytest.mark.parametrize(("type_", "kind"), [("aws:rds/instance:Instance", "RDS instance"),
                                             ("postgresql:index/database:Database", "PostgreSQL database"),
                                             ("kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
                                              "Elasticsearch cluster")])
def test_data_stores_require_protect(type_, kind):
    assert {found for found in judged(type_, {}, protect=True) if found[0] == "platform-data-require-protect"} == set()
    assert {found for found in judged(type_, {}, protect=False) if found[0] == "platform-data-require-protect"} == {(
        "platform-data-require-protect", "thing",
        f"{kind} 'thing' is not protected; set protect=True on it (the stack's `protect`).")}


@pytest.mark.parametrize(("days", "expected"), [(0.0, set()), (90.0, set()), (365.0, set()), (30.0, {(
    "aws-cloudwatch-log-group-configure-audit-retention", "thing",
    "CloudWatch log group '/aws/rds/x' keeps its events 30 days; set retentionInDays to at least 90 (or 0 to keep "
    "them).")})])
def test_log_group_retention(days, expected):
    assert judged("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/rds/x", "retentionInDays": days}) == expected
