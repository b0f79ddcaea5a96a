"""What the engine would do to a resource whose plan entry changed, as far as an offline plan can tell.

The Pulumi engine replaces a resource (creates the new one, then deletes the old, or the reverse with
`deleteBeforeReplace`) when its provider's `Diff` names a changed input among its replace keys, when a
`replaceOnChanges` option covers a changed input, or when its provider reference changes and the new
provider's `DiffConfig` asks for a replacement (pulumi/pulumi pkg/resource/deploy/step_generator.go,
`providerChanged` and `diff`). A URN that changes (a new parent, type or name) without an alias is a delete
and a create. Offline there is no provider to ask, so this module reads what the plan records:

- **certain**: the URN changed without an alias; a Kubernetes input the Kubernetes provider itself forces a
  replacement on (its table of `forceNewProperties`, pulumi/pulumi-kubernetes
  provider/pkg/provider/diff.go@v4.32.0, unchanged through commit 94977969d, and a Helm release's `name` and
  `namespace`, provider/pkg/provider/helm_release.go at the same commit);
- **likely**: an AWS input that the provider's documentation marks "forces new resource" (our reading of the
  Terraform AWS provider's docs for the few types the program declares; the table is short on purpose);
- **possible**: the provider reference changed (the new provider's `DiffConfig` decides).

Everything else shows as an update in place, which the real preview may still turn into a replacement (an
input of a type this table does not cover, a `replaceOnChanges` option, which the plan does not record, or a
dependency that is itself replaced with `deleteBeforeReplace`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CERTAIN, LIKELY, POSSIBLE = "certain", "likely", "possible"
RANK = {CERTAIN: 0, LIKELY: 1, POSSIBLE: 2}
KUBERNETES_TYPE = re.compile(r"^kubernetes:(?P<group>[^/:]+)/(?P<version>[^:]+):(?P<kind>[A-Za-z0-9]+)$")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

_SELECTOR = ("spec.selector",)
_STATEFUL_SET = ("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector", "spec.serviceName",
                 "spec.volumeClaimTemplates")
_POD = (
    "spec.affinity", "spec.automountServiceAccountToken", "spec.dnsConfig", "spec.dnsPolicy", "spec.enableServiceLinks",
    "spec.hostAliases", "spec.hostIPC", "spec.hostNetwork", "spec.hostPID", "spec.hostname", "spec.imagePullSecrets",
    "spec.nodeName", "spec.nodeSelector", "spec.overhead", "spec.preemptionPolicy", "spec.priority",
    "spec.priorityClassName", "spec.readinessGates", "spec.restartPolicy", "spec.runtimeClassName",
    "spec.schedulerName", "spec.securityContext", "spec.serviceAccount", "spec.serviceAccountName",
    "spec.shareProcessNamespace", "spec.subdomain", "spec.terminationGracePeriodSeconds", "spec.volumes",
    # Every field of a container but its name, for containers and init containers alike.
    "spec.containers.*", "spec.initContainers.*",
)
# (group, kind) -> input paths whose change replaces the object, metadata.name and metadata.namespace aside.
KUBERNETES_FORCE_NEW: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "DaemonSet"): _SELECTOR,
    ("apps", "Deployment"): _SELECTOR,
    ("apps", "StatefulSet"): _STATEFUL_SET,
    ("batch", "Job"): ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    ("core", "PersistentVolumeClaim"): ("spec.accessModes", "spec.selector", "spec.storageClassName",
                                        "spec.volumeName"),
    ("core", "Pod"): _POD,
    ("core", "ResourceQuota"): ("spec.scopes",),
    ("core", "Service"): ("spec.clusterIP",),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("roleRef",),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("roleRef",),
    ("storage.k8s.io", "StorageClass"): ("parameters", "provisioner"),
}
# A Secret is replaced on a change of its type or data, a ConfigMap on a change of its data, unless the provider
# is configured with enableSecretMutable / enableConfigMapMutable (or the object is immutable: then always).
MUTABLE_FLAGS = {"Secret": ("enableSecretMutable", ("type", "stringData", "data")),
                 "ConfigMap": ("enableConfigMapMutable", ("binaryData", "data"))}
# Our reading of the Terraform AWS provider's resource docs ("Forces new resource"), for the types we declare.
AWS_FORCE_NEW: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage"),
    "aws:rds/instance:Instance": ("dbName", "storageEncrypted", "kmsKeyId", "username"),
}


@dataclass(frozen=True)
class Replacement:
    certainty: str
    reasons: tuple[str, ...]


def replacement(resource: Mapping[str, Any], changed_paths: Iterable[str],
                providers: Mapping[str, Mapping[str, Any]]) -> Replacement | None:
    """How sure the plan is that the engine replaces `resource` (its head entry), given the changed field paths
    (`inputs.spec.selector.matchLabels.app`, `provider`...); None for an update in place as far as it shows."""
    paths = sorted(set(changed_paths))
    found: list[tuple[str, str]] = []
    inputs = [path.removeprefix("inputs.") for path in paths if path.startswith("inputs.")]
    type_ = str(resource.get("type", ""))
    match = KUBERNETES_TYPE.match(type_)
    if type_ == HELM_RELEASE:
        found += [(CERTAIN, f"`{path}` changed: the Kubernetes provider replaces a Helm release on a new name or "
                            "namespace") for path in inputs if _covers(("name", "namespace"), path)]
    elif match:
        kind, group = match["kind"], match["group"]
        covered = ["metadata.name", "metadata.namespace", *KUBERNETES_FORCE_NEW.get((group, kind), ())]
        body = resource.get("inputs") or {}
        if kind in MUTABLE_FLAGS and group == "core":
            flag, fields = MUTABLE_FLAGS[kind]
            provider = providers.get(_provider_urn(resource.get("provider", ""))) or {}
            mutable = str((provider.get("inputs") or {}).get(flag, "false")).lower() == "true"
            if body.get("immutable") is True or not mutable:
                covered += fields
        for path in inputs:
            if _covers(covered, path):
                found.append((CERTAIN, f"`{path}` changed: the Kubernetes provider replaces a {kind} on it"))
    elif type_ in AWS_FORCE_NEW:
        found += [(LIKELY, f"`{path}` changed: the AWS provider documents it as forcing a new resource")
                  for path in inputs if _covers(AWS_FORCE_NEW[type_], path)]
    if "provider" in paths:
        found.append((POSSIBLE, "its provider changed: replaced if the new provider's configuration asks for it"))
    if not found:
        return None
    certainty = min((certainty for certainty, _ in found), key=RANK.__getitem__)
    return Replacement(certainty, tuple(reason for _, reason in found))


def _covers(prefixes: Iterable[str], path: str) -> bool:
    """Whether a dotted input path lies under one of `prefixes` (`*` matches one list index or key)."""
    parts = path.split(".")
    for prefix in prefixes:
        wanted = prefix.split(".")
        if len(parts) < len(wanted):
            continue
        if all(want == "*" or want == part for want, part in zip(wanted, parts, strict=False)):
            return True
    return False


def _provider_urn(reference: str) -> str:
    """A provider reference is `<urn>::<id>`."""
    return reference.rsplit("::", 1)[0] if reference else ""
