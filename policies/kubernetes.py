"""Kubernetes: restricted pod security, resource limits, pinned images, NetworkPolicies, secrets, exposure, TLS.

Workloads are matched by resource kind whatever their parent, so pods that `helm.v4.Chart` renders are judged
at a real preview. A `helm.v3.Release` is one opaque resource (its pods exist only inside the chart), so the
same settings are checked in its `values` at the paths recorded for its chart in each policy's `charts` setting
(`policies/charts.py`; docs/decisions/0006-chart-api.md). Exemptions come only from the stack's policy config
(policies/exemptions.py); one listed for a release covers the objects it installs, as the offline gate judges them
over a render.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from .charts import chart_facts, charts_setting
from .common import UNKNOWN, has_key, is_exempt, items, known, of_type, resource_policy, stack_policy, waived
from .common import url_passwords as _url_passwords

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
# Workload kind -> path from its inputs to the pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL)", re.IGNORECASE)
# Names that say the value is where a secret is, or a switch about one, not the secret itself: a Secret's name, an
# endpoint, a file, a flag, a storage mode.
# A measure of a secret (how long a token lives, how long a password is) is not a secret either. The separator is
# `_` in env names and `-` or `.` in ConfigMap keys (`token-lifetime-seconds`, `password-file`).
REFERENCE_NAME = re.compile(
    r"[-_.](NAME|ENDPOINT|URL|PATH|FILE|ENABLED|PERSISTENCE|SECONDS|MINUTES|HOURS|DAYS|TTL|TIMEOUT|LIFETIME|LENGTH"
    r"|EXPIRY|EXPIRATION)$", re.IGNORECASE)
# `..._SECRET_KEY` and the like name the key inside a Secret when the value is such a key: one case throughout
# (`jwt-signature-secret`, `WORKLOAD_API_BEARER_TOKEN`), as generated secrets seldom are.
SECRET_KEY_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|CLIENT_ID)_KEY$", re.IGNORECASE)
DATA_KEY = re.compile(r"^([a-z0-9][a-z0-9.-]*|[A-Z0-9][A-Z0-9_]*)$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# What makes a LoadBalancer Service internal, per cloud: the annotation and the values that mean internal.
# - AWS Load Balancer Controller: `aws-load-balancer-scheme: internal` (internet-facing is its default), and the
#   legacy `aws-load-balancer-internal: "true"` that both it and the in-tree provider honour
#   (kubernetes-sigs/aws-load-balancer-controller/docs/guide/service/annotations.md).
# - GKE: `networking.gke.io/load-balancer-type: "Internal"`, formerly `cloud.google.com/load-balancer-type`.
# - AKS: `service.beta.kubernetes.io/azure-load-balancer-internal: "true"`.
INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true",),
    "networking.gke.io/load-balancer-type": ("Internal",),
    "cloud.google.com/load-balancer-type": ("Internal",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
}

# ---- shared readers --------------------------------------------------------------------------------


def _workload_label(args: Any) -> str:
    name = known(args.props, "metadata", "name")
    kind = args.resource_type.rsplit(":", 1)[-1]
    return f"{kind} '{name if isinstance(name, str) else args.name}'"


def _pod_spec(args: Any) -> Any:
    return known(args.props, *POD_SPEC_PATHS[args.resource_type])


def _containers(pod_spec: Any) -> Iterator[Any]:
    for key in ("initContainers", "containers"):
        for container in items(known(pod_spec, key)):
            if container is not None and container is not UNKNOWN:
                yield container


def _release_label(args: Any) -> str:
    name = known(args.props, "name")
    chart = known(args.props, "chart")
    return f"Release '{name if isinstance(name, str) else args.name}' (chart {chart})"


def _at(values: Any, path: str) -> Any:
    return known(values, *path.split("."))


# The restricted Pod Security Standard (kubernetes/website/content/en/docs/concepts/security/pod-security-standards.md
# @main): `runAsUser` may be any non-zero value or unset, in the pod's and each container's securityContext, whatever
# `runAsNonRoot` says; `capabilities.add` may hold NET_BIND_SERVICE only; and no hostPath volume (baseline already).
ADDABLE_CAPABILITIES = ("NET_BIND_SERVICE",)


# The named checks of the restricted-pod policy: an exemption in the allow-list may name some of them, and the
# policy still judges the others (policies/exemptions.py).
RESTRICTED_CHECKS = {
    "root": "`runAsNonRoot` true and no `runAsUser: 0`, in the pod and every container",
    "seccomp": "a RuntimeDefault (or Localhost) seccomp profile",
    "host-namespaces": "no `hostNetwork`, `hostPID`, `hostIPC`",
    "host-path": "no hostPath volume",
    "privilege-escalation": "`allowPrivilegeEscalation: false`",
    "privileged": "no privileged container",
    "capabilities": "every capability dropped and none added back but NET_BIND_SERVICE",
    "read-only-root-filesystem": "`readOnlyRootFilesystem: true`",
}
Problem = tuple[str, str]
"""(named check, what is wrong)."""


def _root_user_problems(context: Any) -> list[Problem]:
    user = known(context, "runAsUser")
    if isinstance(user, (int, float)) and not isinstance(user, bool) and user == 0:
        return [("root", "runAsUser is 0 (set a non-zero user or leave it unset)")]
    return []


def _pod_context_problems(context: Any) -> list[Problem]:
    problems = []
    if known(context, "runAsNonRoot") is not True:
        problems.append(("root", "runAsNonRoot is not true"))
    problems += _root_user_problems(context)
    if known(context, "seccompProfile", "type") not in ("RuntimeDefault", "Localhost"):
        problems.append(("seccomp", "seccompProfile is not RuntimeDefault"))
    return problems


def _container_context_problems(context: Any, pod_non_root: bool = False) -> list[Problem]:
    problems = []
    if known(context, "allowPrivilegeEscalation") is not False:
        problems.append(("privilege-escalation", "allowPrivilegeEscalation is not false"))
    if known(context, "privileged") is True:
        problems.append(("privileged", "privileged is true"))
    drop = [known(context, "capabilities", "drop", index) for index in range(len(items(known(context, "capabilities",
                                                                                                  "drop"))))]
    if "ALL" not in drop:
        problems.append(("capabilities", "capabilities do not drop ALL"))
    extra = [str(capability) for capability in items(known(context, "capabilities", "add"))
             if capability not in ADDABLE_CAPABILITIES]
    if extra:
        problems.append(("capabilities", f"capabilities add {', '.join(extra)} (add none but NET_BIND_SERVICE)"))
    problems += _root_user_problems(context)
    if known(context, "readOnlyRootFilesystem") is not True:
        problems.append(("read-only-root-filesystem", "readOnlyRootFilesystem is not true"))
    if not pod_non_root and known(context, "runAsNonRoot") is not True:
        problems.append(("root", "runAsNonRoot is not true"))
    return problems


# ---- restricted pod security -----------------------------------------------------------------------

RESTRICTED = "kubernetes-pod-require-restricted-security"


def _unwaived(problems: list[Problem]) -> tuple[list[str], list[str]]:
    """The problems left once an exemption narrowed to named checks drops its own, and the checks it dropped."""
    kept = [text for check, text in problems if not waived(check)]
    dropped = sorted({check for check, _ in problems if waived(check)})
    return kept, dropped


def _waiver_note(dropped: list[str]) -> str:
    return f" (exempt from {', '.join(dropped)} by the allow-list; the other checks apply)" if dropped else ""


def _validate_restricted(args, report_violation) -> None:
    if args.resource_type in POD_SPEC_PATHS:
        pod_spec = _pod_spec(args)
        if pod_spec is UNKNOWN:
            return
        pod_context = known(pod_spec, "securityContext")
        problems = _pod_context_problems(pod_context)
        pod_non_root = known(pod_context, "runAsNonRoot") is True
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if known(pod_spec, key) is True:
                problems.append(("host-namespaces", f"{key} is true"))
        for volume in items(known(pod_spec, "volumes")):
            host_path = known(volume, "hostPath")
            if host_path is not None:
                path = known(host_path, "path")
                seen = path if isinstance(path, str) else "?"
                problems.append(("host-path", f"volume {known(volume, 'name')} is a hostPath ({seen}; use an emptyDir, "
                                              "ConfigMap, Secret or PersistentVolumeClaim)"))
        for container in _containers(pod_spec):
            name = known(container, "name")
            problems += [
                (check, f"container {name}: {problem}")
                for check, problem in _container_context_problems(known(container, "securityContext"), pod_non_root)
            ]
        kept, dropped = _unwaived(problems)
        if kept:
            report_violation(
                f"{_workload_label(args)} does not meet the restricted pod security standard ({'; '.join(kept)})"
                f"{_waiver_note(dropped)}; set the restricted security contexts on its pod and containers."
            )
    elif args.resource_type == RELEASE:
        chart = chart_facts(args)
        if chart is None:
            report_violation(
                f"{_release_label(args)} uses a chart without recorded hardening paths; record it in this policy's "
                "`charts` setting (the stack's policy config, `make policy-config`) so its values can be checked."
            )
            return
        values = known(args.props, "values")
        problems = []
        for path in chart["podSecurity"]:
            problems += [(check, f"{path}: {problem}") for check, problem in _pod_context_problems(_at(values, path))]
        for path in chart["containerSecurity"]:
            problems += [(check, f"{path}: {problem}")
                         for check, problem in _container_context_problems(_at(values, path))]
        kept, dropped = _unwaived(problems)
        if kept:
            report_violation(
                f"{_release_label(args)} values do not set restricted security contexts ({'; '.join(kept)})"
                f"{_waiver_note(dropped)}; build its values with components/kit/release.py."
            )


require_restricted = resource_policy(
    RESTRICTED,
    "DP-K8S-001",
    "Pods run under the restricted pod security standard",
    "Every workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, whatever its parent) has "
    "`runAsNonRoot`, no `runAsUser: 0` in its pod or any container, a RuntimeDefault seccomp profile, no host "
    "namespaces, no hostPath volume, and containers with no privilege escalation, every capability dropped and none "
    "added back but NET_BIND_SERVICE, and a read-only root filesystem; every `helm.v3.Release` has the same "
    "settings at the security-context paths recorded for its chart (the `charts` setting), and its chart is "
    "recorded. An exemption listed for a release covers the workloads Helm installs for it.",
    Severity.HIGH,
    ["kubernetes", "access"],
    "Set the restricted pod and container security contexts, or record the exemption with its reason (narrowed to "
    "the checks it needs, `checks`).",
    _validate_restricted,
    exemptable=True,
    config=charts_setting("podSecurity", "containerSecurity"),
    named_checks=RESTRICTED_CHECKS,
)


# ---- resource limits -------------------------------------------------------------------------------

LIMITS = "kubernetes-container-require-resource-limits"


def _resource_problems(resources: Any) -> list[str]:
    missing = []
    for section in ("requests", "limits"):
        for kind in ("cpu", "memory"):
            if known(resources, section, kind) in (None, ""):
                missing.append(f"{section}.{kind}")
    return missing


def _validate_limits(args, report_violation) -> None:
    if args.resource_type in POD_SPEC_PATHS:
        pod_spec = _pod_spec(args)
        if pod_spec is UNKNOWN:
            return
        problems = []
        for container in _containers(pod_spec):
            missing = _resource_problems(known(container, "resources"))
            if missing:
                problems.append(f"container {known(container, 'name')} lacks {', '.join(missing)}")
        if problems:
            report_violation(f"{_workload_label(args)}: {'; '.join(problems)}; set requests and limits.")
    elif args.resource_type == RELEASE and (chart := chart_facts(args)) is not None:
        values = known(args.props, "values")
        problems = [
            f"{path} lacks {', '.join(missing)}"
            for path in chart["resources"]
            if (missing := _resource_problems(_at(values, path)))
        ]
        if problems:
            report_violation(f"{_release_label(args)} values: {'; '.join(problems)}; set requests and limits.")


require_limits = resource_policy(
    LIMITS,
    "DP-K8S-002",
    "Containers declare resource requests and limits",
    "Every container of a workload, and every recorded resources path of a release's values, sets CPU and "
    "memory requests and limits.",
    Severity.MEDIUM,
    ["kubernetes"],
    "Set CPU and memory requests and limits on every container.",
    _validate_limits,
    config=charts_setting("resources"),
)


# ---- images ----------------------------------------------------------------------------------------


def _workload_images(args: Any) -> list[str]:
    pod_spec = _pod_spec(args)
    return [image for c in _containers(pod_spec) if isinstance(image := known(c, "image"), str)]


def _release_images(args: Any, chart: Mapping[str, Any]) -> list[str]:
    """Images a release's values override, as `repository:tag@digest`; chart defaults are pinned by its version."""
    values = known(args.props, "values")
    found = []
    for path in chart["images"]:
        image = _at(values, path)
        if image is None or image is UNKNOWN:
            continue
        repository = known(image, "repository")
        tag = known(image, "tag")
        digest = known(image, "digest")
        if not any(isinstance(part, str) and part for part in (repository, tag, digest)):
            continue
        reference = f"{repository or '<chart default>'}:{tag or ''}"
        if isinstance(digest, str) and digest:
            reference += f"@{digest}"
        found.append(reference)
    return found


def _images(args: Any) -> list[str]:
    if args.resource_type in POD_SPEC_PATHS:
        return _workload_images(args)
    if args.resource_type == RELEASE and (chart := chart_facts(args)) is not None:
        return _release_images(args, chart)
    return []


def _floating(image: str) -> bool:
    if DIGEST.search(image):
        return False
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return tag in ("", "latest")


def _validate_latest(args, report_violation) -> None:
    floating = [image for image in _images(args) if _floating(image)]
    if floating:
        label = _workload_label(args) if args.resource_type in POD_SPEC_PATHS else _release_label(args)
        report_violation(f"{label} uses floating images ({', '.join(floating)}); pin a version tag or a digest.")


disallow_latest = resource_policy(
    "kubernetes-image-disallow-latest-tag",
    "DP-K8S-003",
    "Images are not floating",
    "No workload container image, and no image a release's values set, is untagged or tagged `latest` without "
    "a digest.",
    Severity.HIGH,
    ["kubernetes"],
    "Pin every image to a version tag and, once built, its digest.",
    _validate_latest,
    config=charts_setting("images"),
)


def _validate_digest(args, report_violation) -> None:
    undigested = [image for image in _images(args) if not DIGEST.search(image)]
    if undigested:
        label = _workload_label(args) if args.resource_type in POD_SPEC_PATHS else _release_label(args)
        report_violation(
            f"{label} uses images without a digest ({', '.join(undigested)}); pin each by the digest CI records in "
            "the image locks (images/digests.lock.json, images/vendor.lock.json)."
        )


require_digest = resource_policy(
    "kubernetes-image-require-digest",
    "DP-K8S-004",
    "Images are pinned by digest",
    "Every workload container image, and every image a release's values set, carries an `@sha256:` digest. "
    "Advisory in every stack: CI records the digests in the image locks (images/digests.lock.json for the "
    "platform's own images, images/vendor.lock.json for the vendors'), and the prod deploy refuses an image "
    "without one (docs/locks.md).",
    Severity.MEDIUM,
    ["kubernetes"],
    "Pin the image by the digest its image lock records (images/digests.lock.json, images/vendor.lock.json).",
    _validate_digest,
    config=charts_setting("images"),
)


# ---- NetworkPolicies -------------------------------------------------------------------------------


def _default_deny(policy: Any) -> bool:
    spec = known(policy.props, "spec")
    selector = known(spec, "podSelector")
    types = items(known(spec, "policyTypes"))
    empty_selector = selector is not None and selector is not UNKNOWN and not list(iter(selector))
    return (
        empty_selector
        and {"Ingress", "Egress"} <= set(types)
        and not has_key(spec, "ingress")
        and not has_key(spec, "egress")
    )


def _validate_network_policies(args, report_violation) -> None:
    denied: set[str] = set()
    denied_urns: set[str] = set()
    for policy in of_type(args.resources, NETWORK_POLICY):
        if not _default_deny(policy):
            continue
        namespace = known(policy.props, "metadata", "namespace")
        if isinstance(namespace, str):
            denied.add(namespace)
        for dependency in policy.property_dependencies.get("metadata", []):
            denied_urns.add(dependency.urn)
    for namespace in of_type(args.resources, NAMESPACE):
        name = known(namespace.props, "metadata", "name")
        if namespace.urn in denied_urns or (isinstance(name, str) and name in denied):
            continue
        report_violation(
            f"Namespace '{name if isinstance(name, str) else namespace.name}' has no default-deny NetworkPolicy; "
            "add one (empty podSelector, Ingress and Egress) and allow only the catalog's flows.",
            namespace.urn,
        )


require_network_policy = stack_policy(
    "kubernetes-namespace-require-network-policy",
    "DP-K8S-005",
    "Every namespace denies traffic by default",
    "Every `Namespace` has a NetworkPolicy with an empty podSelector, policy types Ingress and Egress and no "
    "rules, joined by its namespace name or by dependency on the Namespace.",
    Severity.HIGH,
    ["kubernetes", "access"],
    "Add a default-deny NetworkPolicy to the namespace and allow only the flows the catalog implies.",
    _validate_network_policies,
)


# ---- namespace pod security level ------------------------------------------------------------------

NAMESPACE_LEVEL = "kubernetes-namespace-require-restricted-pod-security"


def _validate_namespace_level(args, report_violation) -> None:
    if args.resource_type != NAMESPACE:
        return
    level = known(args.props, "metadata", "labels", "pod-security.kubernetes.io/enforce")
    if level is UNKNOWN or level == "restricted":
        return
    name = known(args.props, "metadata", "name")
    report_violation(
        f"Namespace '{name if isinstance(name, str) else args.name}' enforces pod security level "
        f"'{level or 'none'}'; label it pod-security.kubernetes.io/enforce=restricted or record the exemption."
    )


require_namespace_level = resource_policy(
    NAMESPACE_LEVEL,
    "DP-K8S-006",
    "Namespaces enforce the restricted pod security standard",
    "Every `Namespace` carries `pod-security.kubernetes.io/enforce: restricted`.",
    Severity.HIGH,
    ["kubernetes", "access"],
    "Label the namespace pod-security.kubernetes.io/enforce=restricted.",
    _validate_namespace_level,
    exemptable=True,
)


# ---- plaintext secrets -----------------------------------------------------------------------------


def _plaintext_secret(name: Any, value: Any) -> bool:
    """Whether a literal named `name` holds a secret: named like one, and a value that could be one. Nothing
    (null, empty), a boolean, an absolute file path, a URL without credentials, or a Secret's key under a name
    saying so is not; a value unknown at preview may be anything, so it counts."""
    if not isinstance(name, str) or not SECRET_NAME.search(name) or REFERENCE_NAME.search(name):
        return False
    if value is UNKNOWN:
        return True
    if not isinstance(value, str) or not value.strip() or value.strip().lower() in ("true", "false"):
        return False
    text = value.strip()
    if text.startswith("/") or (re.match(r"^[a-z][a-z0-9+.-]*://", text) and not _url_passwords(text)):
        return False
    return not (SECRET_KEY_NAME.search(name) and DATA_KEY.match(text))


def _referenced_secrets(pod_spec: Any) -> set[str]:
    """The names of the Secrets a pod reads by reference: its volumes (secret, projected), its containers'
    `envFrom` and `secretKeyRef`s, and its image pull secrets."""
    names = [known(secret, "name") for secret in items(known(pod_spec, "imagePullSecrets"))]
    for volume in items(known(pod_spec, "volumes")):
        names.append(known(volume, "secret", "secretName"))
        names += [known(source, "secret", "name") for source in items(known(volume, "projected", "sources"))]
    for container in _containers(pod_spec):
        names += [known(source, "secretRef", "name") for source in items(known(container, "envFrom"))]
        names += [known(variable, "valueFrom", "secretKeyRef", "name") for variable in items(known(container, "env"))]
    return {name for name in names if isinstance(name, str) and name}


def _validate_plaintext(args, report_violation) -> None:
    found: list[str] = []
    in_urls: list[str] = []
    if args.resource_type in POD_SPEC_PATHS:
        pod_spec = _pod_spec(args)
        # A value that is the name of a Secret the pod itself mounts or reads is that Secret's name (ECK's
        # `WEBHOOK_SECRET`, the Secret its webhook certificate volume comes from), not a secret.
        referenced = _referenced_secrets(pod_spec)
        for container in _containers(pod_spec):
            for variable in items(known(container, "env")):
                name, value = known(variable, "name"), known(variable, "value")
                where = f"env {name} of container {known(container, 'name')}"
                if urls := _url_passwords(value):
                    in_urls.append(f"{where}: {', '.join(urls)}")
                elif has_key(variable, "value") and not (isinstance(value, str) and value in referenced) \
                        and _plaintext_secret(name, value):
                    found.append(where)
        label = _workload_label(args)
    elif args.resource_type == CONFIG_MAP:
        data = known(args.props, "data")
        keys = list(iter(data)) if data is not None and data is not UNKNOWN else []
        for key in keys:
            if urls := _url_passwords(known(data, key)):
                in_urls.append(f"key {key}: {', '.join(urls)}")
            elif _plaintext_secret(key, known(data, key)):
                found.append(f"key {key}")
        label = f"ConfigMap '{known(args.props, 'metadata', 'name') or args.name}'"
    elif args.resource_type == RELEASE and (chart := chart_facts(args)) is not None:
        values = known(args.props, "values")
        found = [path for path in chart["plaintextSecrets"] if _at(values, path) not in (None, "")]
        label = _release_label(args)
    else:
        return
    if found:
        report_violation(
            f"{label} holds secrets in plain text ({', '.join(found)}); reference a Kubernetes Secret instead."
        )
    if in_urls:
        report_violation(
            f"{label} holds passwords in plain text inside URLs ({'; '.join(in_urls)}); keep the password in a "
            "Kubernetes Secret and write `$(VAR)` (an env variable from its secretKeyRef) or `${VAR}` in its place."
        )


disallow_plaintext = resource_policy(
    "kubernetes-secret-disallow-plaintext",
    "DP-K8S-007",
    "No plaintext secret in env, ConfigMaps or release values",
    "No container env variable named like a secret (password, secret, token, key, credential) has a literal "
    "`value` that could be one, nor has a ConfigMap key so named; every recorded secret path of a release's values "
    "is empty; no env value or ConfigMap value, whatever its name, holds a URL with a literal password "
    "(`scheme://user:password@host`). Not secrets: no value, a boolean, a file path, a URL with no password or a "
    "`${VAR}`/`$(VAR)` reference in its place, a name saying it holds a "
    "Secret's name, endpoint, path or switch (`_NAME`, `_ENDPOINT`, `_URL`, `_PATH`, `_FILE`, `_ENABLED`, "
    "`_PERSISTENCE`), a Secret's key (one case throughout) under a `..._SECRET_KEY`-like name, and the name of a "
    "Secret the same pod mounts or reads by reference (a volume, `envFrom`, `secretKeyRef`, an image pull secret).",
    Severity.CRITICAL,
    ["kubernetes", "access"],
    "Move the value into a Kubernetes Secret and reference it with secretKeyRef or the chart's existing-Secret key.",
    _validate_plaintext,
    config=charts_setting("plaintextSecrets"),
)


# ---- public load balancers -------------------------------------------------------------------------


def _validate_load_balancer(args, report_violation) -> None:
    if args.resource_type == SERVICE:
        if known(args.props, "spec", "type") != "LoadBalancer":
            return
        annotations = known(args.props, "metadata", "annotations")
        if any(str(known(annotations, key)).strip().lower() in {value.lower() for value in internal}
               for key, internal in INTERNAL_LB_ANNOTATIONS.items()):
            return
        report_violation(
            f"Service '{known(args.props, 'metadata', 'name') or args.name}' is a public LoadBalancer; use "
            "ClusterIP (the deployer reaches services in-cluster)."
        )
    elif args.resource_type == RELEASE and (chart := chart_facts(args)) is not None:
        values = known(args.props, "values")
        public = [path for path in chart["serviceTypes"] if _at(values, path) == "LoadBalancer"]
        if public:
            report_violation(
                f"{_release_label(args)} exposes a LoadBalancer at {', '.join(public)}; set ClusterIP."
            )


disallow_public_lb = resource_policy(
    "kubernetes-service-disallow-public-load-balancer",
    "DP-K8S-008",
    "No public LoadBalancer",
    "No `Service` is of type LoadBalancer unless an annotation makes it internal (AWS Load Balancer Controller "
    "`aws-load-balancer-scheme: internal` or `aws-load-balancer-internal: \"true\"`, GKE `load-balancer-type: "
    "Internal`, AKS `azure-load-balancer-internal: \"true\"`), and no release's values set a recorded service type "
    "to LoadBalancer.",
    Severity.HIGH,
    ["kubernetes", "access"],
    "Use a ClusterIP Service and reach it from inside the cluster.",
    _validate_load_balancer,
    config=charts_setting("serviceTypes"),
)


def _validate_node_port(args, report_violation) -> None:
    if args.resource_type == SERVICE:
        if known(args.props, "spec", "type") == "NodePort":
            report_violation(
                f"Service '{known(args.props, 'metadata', 'name') or args.name}' is a NodePort, open on every node's "
                "address; use ClusterIP (the deployer reaches services in-cluster)."
            )
    elif args.resource_type == RELEASE and (chart := chart_facts(args)) is not None:
        values = known(args.props, "values")
        opened = [path for path in chart["serviceTypes"] if _at(values, path) == "NodePort"]
        if opened:
            report_violation(f"{_release_label(args)} exposes a NodePort at {', '.join(opened)}; set ClusterIP.")


disallow_node_port = resource_policy(
    "kubernetes-service-disallow-node-port",
    "DP-K8S-011",
    "No NodePort Service",
    "No `Service` is of type NodePort (a port opened on every node's address, past the NetworkPolicies' intent of "
    "in-cluster access), and no release's values set a recorded service type to NodePort.",
    Severity.HIGH,
    ["kubernetes", "access"],
    "Use a ClusterIP Service and reach it from inside the cluster.",
    _validate_node_port,
    config=charts_setting("serviceTypes"),
)


# ---- TLS on endpoints ------------------------------------------------------------------------------


def _tls_problem(values: Any, switch: Mapping[str, Any]) -> str | None:
    path = switch["path"]
    value = _at(values, path)
    if value is UNKNOWN:
        return None
    if "equals" in switch:
        return None if value == switch["equals"] else f"{path} is not {json.dumps(switch['equals'])}"
    if "contains" in switch:
        # A chart's raw config (Fluent Bit's classic format) aligns values with spaces: compare them collapsed.
        collapsed = " ".join(value.split()) if isinstance(value, str) else ""
        return None if switch["contains"] in collapsed else f"{path} lacks '{switch['contains']}'"
    present = value not in (None, "") and not (hasattr(value, "__iter__") and not isinstance(value, str)
                                                and not list(iter(value)))
    return None if present else f"{path} is not set"


# gunicorn reads extra command-line arguments from GUNICORN_CMD_ARGS: split as a shell would (`shlex.split`) and
# parsed by its argparse parser, where the last occurrence of an option wins, `--opt value` and `--opt=value` are the
# same, and a long option may be abbreviated while the abbreviation is unambiguous; it serves TLS when `certfile` is
# set (`Config.is_ssl`; the key may sit in the same file) (benoitc/gunicorn/gunicorn/config.py@23.0.0:
# `get_cmd_args_from_env`, `is_ssl`). `--cert` alone is ambiguous with `--cert-reqs`, so argparse refuses it.
GUNICORN_ENV = "GUNICORN_CMD_ARGS"
GUNICORN_OPTIONS = {"certfile": "--certfile", "keyfile": "--keyfile"}
GUNICORN_NEIGHBOURS = ("--cert-reqs", "--keep-alive")


def _gunicorn_option(token: str) -> str | None:
    """The TLS option (`certfile`, `keyfile`) a long option token names, abbreviated or not."""
    name = token.split("=", 1)[0]
    if len(name) < 3:
        return None
    matches = [key for key, option in GUNICORN_OPTIONS.items() if option.startswith(name)]
    neighbours = [option for option in GUNICORN_NEIGHBOURS if option.startswith(name)]
    return matches[0] if len(matches) == 1 and (not neighbours or name in GUNICORN_OPTIONS.values()) else None


def gunicorn_tls(arguments: str) -> dict[str, str]:
    """The effective `certfile` and `keyfile` of a GUNICORN_CMD_ARGS value ("" where unset or set empty)."""
    try:
        tokens = shlex.split(arguments)
    except ValueError:
        return {}
    effective: dict[str, str] = {}
    for index, token in enumerate(tokens):
        if not token.startswith("--") or (option := _gunicorn_option(token)) is None:
            continue
        if "=" in token:
            effective[option] = token.split("=", 1)[1]
        else:
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            effective[option] = "" if following.startswith("-") else following
    return effective


def _gunicorn_problems(args: Any) -> list[str]:
    """A workload's containers whose GUNICORN_CMD_ARGS leave gunicorn without a certificate."""
    problems = []
    for container in _containers(_pod_spec(args)):
        for variable in items(known(container, "env")):
            if known(variable, "name") != GUNICORN_ENV or not has_key(variable, "value"):
                continue
            value = known(variable, "value")
            if value is UNKNOWN:
                continue
            effective = gunicorn_tls(value if isinstance(value, str) else "")
            if not effective.get("certfile"):
                seen = " ".join(value.split()) if isinstance(value, str) and value.strip() else "empty"
                problems.append(f"container {known(container, 'name')}: {GUNICORN_ENV} is {seen!r}, with no "
                                "effective --certfile")
    return problems


def _validate_tls(args, report_violation) -> None:
    if args.resource_type in POD_SPEC_PATHS:
        if problems := _gunicorn_problems(args):
            report_violation(f"{_workload_label(args)} serves gunicorn without TLS ({'; '.join(problems)}); give "
                             f"{GUNICORN_ENV} `--certfile=<tls.crt> --keyfile=<tls.key>` from the cert-manager "
                             "certificate's Secret, as the last occurrence of each.")
        return
    if args.resource_type != RELEASE or (chart := chart_facts(args)) is None:
        return
    values = known(args.props, "values")
    problems = [problem for switch in chart["tls"] if (problem := _tls_problem(values, switch))]
    if problems:
        report_violation(f"{_release_label(args)} serves without TLS ({'; '.join(problems)}); turn TLS on.")


require_tls = resource_policy(
    "kubernetes-endpoint-require-tls",
    "DP-K8S-009",
    "Every release and gunicorn server serves TLS",
    "Every `helm.v3.Release` sets the TLS switches recorded for its chart (the `charts` setting): MinIO `tls.enabled` "
    "with a certificate Secret, Valkey TLS and auth, the Prometheus Operator's TLS and Prometheus' web TLS, ECK's "
    "secure metrics, Fluent Bit's TLS inputs and outputs, Superset's gunicorn certificate. Every workload container "
    "that sets `GUNICORN_CMD_ARGS` gives gunicorn an effective `--certfile` there (read as gunicorn reads it: split "
    "as a shell would, the last occurrence wins, `--opt=value` or `--opt value`, unambiguous abbreviations).",
    Severity.HIGH,
    ["kubernetes", "transport"],
    "Turn TLS on at the chart's recorded paths with a cert-manager certificate.",
    _validate_tls,
    config=charts_setting("tls"),
)


# ---- shared privileged service accounts ------------------------------------------------------------

SHARED_ACCOUNT = "kubernetes-serviceaccount-disallow-shared-privileged"
ROLE_KINDS = ("kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
BINDING_KINDS = ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                 "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"


def _powers(rules: Any) -> list[str]:
    """What a role's rules allow that lets a pod act as others: exec into pods, read every Secret, anything."""
    found = []
    for rule in items(rules):
        resources = {str(resource) for resource in items(known(rule, "resources"))}
        verbs = {str(verb) for verb in items(known(rule, "verbs"))}
        names = items(known(rule, "resourceNames"))
        if "*" in resources and verbs & {"*", "get", "list", "create"}:
            found.append("anything")
        if "pods/exec" in resources and verbs & {"*", "create", "get"}:
            found.append("exec into pods")
        if "secrets" in resources and verbs & {"*", "get", "list", "watch"} and not names:
            found.append("read every Secret")
    return sorted(set(found))


def _validate_shared_accounts(args, report_violation) -> None:
    roles: dict[tuple[str, str, str], list[str]] = {}
    for role in (r for r in args.resources if r.resource_type in ROLE_KINDS):
        kind = role.resource_type.rsplit(":", 1)[-1]
        namespace = known(role.props, "metadata", "namespace") if kind == "Role" else ""
        roles[(kind, str(namespace or ""), str(known(role.props, "metadata", "name")))] = _powers(
            known(role.props, "rules"))
    powers: dict[tuple[str, str], set[str]] = {}
    for binding in (r for r in args.resources if r.resource_type in BINDING_KINDS):
        namespace = str(known(binding.props, "metadata", "namespace") or "")
        reference = known(binding.props, "roleRef")
        kind, name = str(known(reference, "kind")), str(known(reference, "name"))
        granted = roles.get((kind, namespace if kind == "Role" else "", name), [])
        for subject in items(known(binding.props, "subjects")):
            if known(subject, "kind") == "ServiceAccount" and granted:
                account = (str(known(subject, "namespace") or namespace), str(known(subject, "name")))
                powers.setdefault(account, set()).update(granted)
    accounts = {(str(known(a.props, "metadata", "namespace") or ""), str(known(a.props, "metadata", "name"))): a
                for a in of_type(args.resources, SERVICE_ACCOUNT)}
    users: dict[tuple[str, str], list[Any]] = {}
    for workload in (r for r in args.resources if r.resource_type in POD_SPEC_PATHS):
        spec = known(workload.props, *POD_SPEC_PATHS[workload.resource_type])
        if spec is UNKNOWN or spec is None:
            continue
        account = (str(known(workload.props, "metadata", "namespace") or ""),
                   str(known(spec, "serviceAccountName") or "default"))
        owner = accounts.get(account)
        mounted = known(spec, "automountServiceAccountToken")
        if mounted is False or (mounted is None and owner is not None
                                and known(owner.props, "automountServiceAccountToken") is False):
            continue
        if account in powers and not is_exempt(args, SHARED_ACCOUNT, workload):
            users.setdefault(account, []).append(workload)
    for account, workloads in sorted(users.items()):
        if len(workloads) < 2:
            continue
        names = ", ".join(sorted(_workload_label(workload) for workload in workloads))
        owner = accounts.get(account)
        report_violation(
            f"ServiceAccount '{account[0]}/{account[1]}' may {' and '.join(sorted(powers[account]))} and is shared by "
            f"{len(workloads)} workloads that mount its token ({names}); give each workload an account of its own "
            "with only what it needs, and mount a token only where it is used.",
            owner.urn if owner is not None else workloads[0].urn,
        )


disallow_shared_account = stack_policy(
    SHARED_ACCOUNT,
    "DP-K8S-010",
    "Privileged service accounts are not shared",
    "A ServiceAccount whose Roles or ClusterRoles (through its bindings) may exec into pods, read every Secret or do "
    "anything is used, with its token mounted, by at most one workload; workloads exempt from this policy are not "
    "counted.",
    Severity.HIGH,
    ["kubernetes", "access"],
    "Give each workload a ServiceAccount of its own with only the rules it needs; set automountServiceAccountToken "
    "to false where the token is not used.",
    _validate_shared_accounts,
    exemptable=True,
)


POLICIES = [
    require_restricted,
    require_limits,
    disallow_latest,
    require_digest,
    require_network_policy,
    require_namespace_level,
    disallow_plaintext,
    disallow_public_lb,
    disallow_node_port,
    require_tls,
    disallow_shared_account,
]
