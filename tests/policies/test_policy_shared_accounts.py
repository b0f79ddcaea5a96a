"""`kubernetes-serviceaccount-disallow-shared-privileged`: a ServiceAccount bound to exec into pods, read every
Secret or do anything is used, with its token mounted, by at most one workload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policies.kubernetes import _validate_shared_accounts

RBAC = "kubernetes:rbac.authorization.k8s.io/v1"


@dataclass
class Resource:
    resource_type: str
    props: dict[str, Any]
    name: str = "r"
    property_dependencies: dict = field(default_factory=dict)
    parent: None = None

    @property
    def urn(self) -> str:
        return f"urn:{self.resource_type}::{self.props['metadata']['name']}"


@dataclass
class Args:
    resources: list[Resource]

    def get_config(self) -> dict:
        return {}


def deployment(name: str, account: str, mounted: bool | None = None) -> Resource:
    spec: dict[str, Any] = {"serviceAccountName": account, "containers": [{"name": "c", "image": "x@sha256:1"}]}
    if mounted is not None:
        spec["automountServiceAccountToken"] = mounted
    return Resource("kubernetes:apps/v1:Deployment", {"metadata": {"name": name, "namespace": "ns"},
                                                      "spec": {"template": {"spec": spec}}})


def bound(rules: list[dict[str, Any]]) -> list[Resource]:
    return [
        Resource("kubernetes:core/v1:ServiceAccount", {"metadata": {"name": "admin", "namespace": "ns"}}),
        Resource(f"{RBAC}:Role", {"metadata": {"name": "admin", "namespace": "ns"}, "rules": rules}),
        Resource(f"{RBAC}:RoleBinding", {"metadata": {"name": "admin", "namespace": "ns"},
                                         "roleRef": {"kind": "Role", "name": "admin"},
                                         "subjects": [{"kind": "ServiceAccount", "name": "admin", "namespace": "ns"}]}),
    ]


def violations(resources: list[Resource]) -> list[str]:
    found: list[str] = []
    _validate_shared_accounts(Args(resources), lambda message, urn=None: found.append(message))
    return found


EXEC_AND_SECRETS = [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
                    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]


def test_a_privileged_account_shared_by_two_workloads_is_found():
    (message,) = violations([*bound(EXEC_AND_SECRETS), deployment("a", "admin"), deployment("b", "admin")])
    assert message.startswith("ServiceAccount 'ns/admin' may exec into pods and read every Secret and is shared by "
                              "2 workloads")


def test_one_user_an_unmounted_token_or_narrow_rules_pass():
    assert violations([*bound(EXEC_AND_SECRETS), deployment("a", "admin")]) == []
    assert violations([*bound(EXEC_AND_SECRETS), deployment("a", "admin"), deployment("b", "admin", mounted=False)]) \
        == []
    named = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["one"]}]
    assert violations([*bound(named), deployment("a", "admin"), deployment("b", "admin")]) == []
