"""Proves each Kubernetes policy passes the compliant baseline and flags exactly the mutated workload or release."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes_fixtures import baseline, changed, resource
from policy_eval import violations

from infra.offline.harness import Recording

CRON = "CronJob 'dbt-runner'"
REDIS = "Release 'redis' (chart valkey)"


def container(inputs: dict) -> dict:
    return inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]


def set_image(image: str) -> Callable[[dict], None]:
    return lambda inputs: container(inputs).update(image=image)


def add_service(recording: Recording) -> Recording:
    return changed(recording, "dremio", lambda inputs: inputs["spec"].update(type="LoadBalancer"))


def remove(name: str) -> Callable[[Recording], Recording]:
    def mutate(recording: Recording) -> Recording:
        return Recording(recording.project, recording.stack, recording.preview,
                         [r for r in recording.resources if r.name != name])

    return mutate


def add_annotated_services(recording: Recording, annotations: dict[str, dict[str, str]]) -> Recording:
    """One LoadBalancer Service per entry, `lb-<name>`, with that entry's annotations."""
    services = [resource("kubernetes:core/v1:Service", f"lb-{name}", {
        "metadata": {"name": f"lb-{name}", "namespace": "dp-lakehouse", "annotations": marks},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}) for name, marks in annotations.items()]
    return Recording(recording.project, recording.stack, recording.preview, [*recording.resources, *services])


def add_config_map(recording: Recording, data: dict[str, str]) -> Recording:
    config_map = resource("kubernetes:core/v1:ConfigMap", "settings",
                          {"metadata": {"name": "settings", "namespace": "dp-lakehouse"}, "data": data})
    return Recording(recording.project, recording.stack, recording.preview, [*recording.resources, config_map])



def allowed(policy: str, target: str, expires: str = "2027-06-30") -> dict:
    """An allow-list with one exemption (judged on policy_eval.EVALUATION_DATE)."""
    return {"exemptions": [{"policy": policy, "resource": target, "reason": "a reason", "expires": expires}]}


def installed_by(recording, name: str, release: str):
    """`name` as the gate over a render gives it: a child of the release that installed it."""
    recording.named(name).parent = recording.named(release).urn
    return recording

# Name -> (mutation, the exact violations, and optionally the allow-list the stack's config gives).
CASES: dict[str, tuple] = {
    "pass_baseline": (lambda r: r, set()),
    "fail_container_may_escalate": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["securityContext"].update(
            allowPrivilegeEscalation=True, capabilities={"drop": []})),
        {(
            "kubernetes-pod-require-restricted-security", "dbt-runner",
            f"{CRON} does not meet the restricted pod security standard (container runner: allowPrivilegeEscalation "
            "is not false; container runner: capabilities do not drop ALL); set the restricted security contexts on "
            "its pod and containers.",
        )},
    ),
    "fail_container_runs_as_user_0_under_a_non_root_pod": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["securityContext"].update(runAsUser=0.0)),
        {(
            "kubernetes-pod-require-restricted-security", "dbt-runner",
            f"{CRON} does not meet the restricted pod security standard (container runner: runAsUser is 0 (set a "
            "non-zero user or leave it unset)); set the restricted security contexts on its pod and containers.",
        )},
    ),
    "fail_pod_runs_as_user_0": (
        lambda r: changed(r, "dbt-runner", lambda i: i["spec"]["jobTemplate"]["spec"]["template"]["spec"][
            "securityContext"].update(runAsUser=0)),
        {(
            "kubernetes-pod-require-restricted-security", "dbt-runner",
            f"{CRON} does not meet the restricted pod security standard (runAsUser is 0 (set a non-zero user or "
            "leave it unset)); set the restricted security contexts on its pod and containers.",
        )},
    ),
    "pass_container_runs_as_a_non_zero_user": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["securityContext"].update(runAsUser=1000)),
        set(),
    ),
    "fail_container_adds_capabilities_back": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["securityContext"]["capabilities"].update(
            add=["NET_BIND_SERVICE", "NET_ADMIN", "SYS_PTRACE"])),
        {(
            "kubernetes-pod-require-restricted-security", "dbt-runner",
            f"{CRON} does not meet the restricted pod security standard (container runner: capabilities add "
            "NET_ADMIN, SYS_PTRACE (add none but NET_BIND_SERVICE)); set the restricted security contexts on its pod "
            "and containers.",
        )},
    ),
    "pass_container_adds_net_bind_service_only": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["securityContext"]["capabilities"].update(
            add=["NET_BIND_SERVICE"])),
        set(),
    ),
    "fail_pod_mounts_a_host_path": (
        lambda r: changed(r, "dbt-runner", lambda i: i["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(
            volumes=[{"name": "target", "emptyDir": {}}, {"name": "docker", "hostPath": {"path": "/var/run"}}])),
        {(
            "kubernetes-pod-require-restricted-security", "dbt-runner",
            f"{CRON} does not meet the restricted pod security standard (volume docker is a hostPath (/var/run; use "
            "an emptyDir, ConfigMap, Secret or PersistentVolumeClaim)); set the restricted security contexts on its "
            "pod and containers.",
        )},
    ),
    "pass_host_path_of_a_workload_installed_by_an_exempt_release": (
        lambda r: installed_by(changed(r, "dbt-runner", lambda i: (
            container(i)["securityContext"].update(runAsUser=0),
            i["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(
                volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}]))), "dbt-runner", "redis"),
        set(),
        allowed("kubernetes-pod-require-restricted-security", "kubernetes:helm.sh/v3:Release::redis"),
    ),
    "pass_workload_exempt_by_the_allow_list": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["securityContext"].update(
            readOnlyRootFilesystem=False)),
        set(),
        allowed("kubernetes-pod-require-restricted-security", "kubernetes:batch/v1:CronJob::dbt-runner"),
    ),
    "fail_workload_exempting_itself_by_annotation": (
        lambda r: changed(r, "dbt-runner", lambda i: (
            container(i)["securityContext"].update(readOnlyRootFilesystem=False),
            i["metadata"].update(annotations={
                "dataplatform/policy-exemptions": "kubernetes-pod-require-restricted-security",
                "dataplatform/exemption-reason": "dbt writes its target directory"}))),
        {(
            "kubernetes-pod-require-restricted-security", "dbt-runner",
            f"{CRON} does not meet the restricted pod security standard (container runner: readOnlyRootFilesystem "
            "is not true); set the restricted security contexts on its pod and containers.",
        ), (
            "pack-exemption-require-allow-list", "dbt-runner",
            "`kubernetes:batch/v1:CronJob::dbt-runner` claims an exemption from "
            "`kubernetes-pod-require-restricted-security` that policies/config/<stack>.json does not list; remove its "
            "`dataplatform:policy-exemptions` tag or `dataplatform/policy-exemptions` annotation, or have the security "
            "team list the exemption with its reason and expiry.",
        )},
    ),
    "pass_workload_installed_by_an_exempt_release": (
        lambda r: installed_by(changed(r, "dbt-runner", lambda i: container(i)["securityContext"].update(
            readOnlyRootFilesystem=False)), "dbt-runner", "redis"),
        set(),
        allowed("kubernetes-pod-require-restricted-security", "kubernetes:helm.sh/v3:Release::redis"),
    ),
    "fail_workload_helm_installed_for_a_release_not_exempt": (
        lambda r: changed(r, "dbt-runner", lambda i: (
            container(i)["securityContext"].update(readOnlyRootFilesystem=False),
            i["metadata"].update(annotations={"meta.helm.sh/release-name": "airbyte"}))),
        {(
            "kubernetes-pod-require-restricted-security", "dbt-runner",
            f"{CRON} does not meet the restricted pod security standard (container runner: readOnlyRootFilesystem "
            "is not true); set the restricted security contexts on its pod and containers.",
        )},
    ),
    "fail_release_runs_as_root": (
        lambda r: changed(r, "redis", lambda i: i["values"]["podSecurityContext"].update(runAsNonRoot=False)),
        {(
            "kubernetes-pod-require-restricted-security", "redis",
            f"{REDIS} values do not set restricted security contexts (podSecurityContext: runAsNonRoot is not true); "
            "build its values with components/kit/release.py.",
        )},
    ),
    "pass_release_exempt_by_the_allow_list": (
        lambda r: changed(r, "redis", lambda i: (i.update(name="fluent-bit", chart="fluent-bit"),
                                                 i["values"].update(podSecurityContext={"runAsNonRoot": False},
                                                                    securityContext={}, resources={
                                                                        "requests": {"cpu": "1", "memory": "1Gi"},
                                                                        "limits": {"cpu": "1", "memory": "1Gi"}},
                                                                    config={"inputs": "tls On",
                                                                            "outputs": "tls    On"}))),
        set(),
        allowed("kubernetes-pod-require-restricted-security", "kubernetes:helm.sh/v3:Release::redis"),
    ),
    "fail_unrecorded_chart": (
        lambda r: changed(r, "redis", lambda i: i.update(chart="somewhere/unknown")),
        {(
            "kubernetes-pod-require-restricted-security", "redis",
            "Release 'redis' (chart somewhere/unknown) uses a chart without recorded hardening paths; record it in "
            "this policy's `charts` setting (the stack's policy config, `make policy-config`) so its values can be "
            "checked.",
        )},
    ),
    "fail_no_limits": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["resources"].pop("limits")),
        {(
            "kubernetes-container-require-resource-limits", "dbt-runner",
            f"{CRON}: container runner lacks limits.cpu, limits.memory; set requests and limits.",
        )},
    ),
    "fail_release_without_resources": (
        lambda r: changed(r, "redis", lambda i: i["values"].pop("initResources")),
        {(
            "kubernetes-container-require-resource-limits", "redis",
            f"{REDIS} values: initResources lacks requests.cpu, requests.memory, limits.cpu, limits.memory; set "
            "requests and limits.",
        )},
    ),
    "fail_latest_image": (
        lambda r: changed(r, "dbt-runner", set_image("ghcr.io/example/dbt-runner:latest")),
        {
            ("kubernetes-image-disallow-latest-tag", "dbt-runner",
             f"{CRON} uses floating images (ghcr.io/example/dbt-runner:latest); pin a version tag or a digest."),
            ("kubernetes-image-require-digest", "dbt-runner",
             f"{CRON} uses images without a digest (ghcr.io/example/dbt-runner:latest); pin each by the digest CI "
             "records in the image locks (images/digests.lock.json, images/vendor.lock.json)."),
        },
    ),
    "advisory_undigested_image": (
        lambda r: changed(r, "dbt-runner", set_image("ghcr.io/example/dbt-runner:1.11")),
        {("kubernetes-image-require-digest", "dbt-runner",
          f"{CRON} uses images without a digest (ghcr.io/example/dbt-runner:1.11); pin each by the digest CI "
          "records in the image locks (images/digests.lock.json, images/vendor.lock.json).")},
    ),
    "fail_namespace_without_deny_all": (
        remove("deny-lakehouse"),
        {("kubernetes-namespace-require-network-policy", "ns-lakehouse",
          "Namespace 'dp-lakehouse' has no default-deny NetworkPolicy; add one (empty podSelector, Ingress and "
          "Egress) and allow only the catalog's flows.")},
    ),
    "fail_namespace_privileged": (
        lambda r: changed(r, "ns-lakehouse", lambda i: i["metadata"]["labels"].update(
            {"pod-security.kubernetes.io/enforce": "privileged"})),
        {("kubernetes-namespace-require-restricted-pod-security", "ns-lakehouse",
          "Namespace 'dp-lakehouse' enforces pod security level 'privileged'; label it "
          "pod-security.kubernetes.io/enforce=restricted or record the exemption.")},
    ),
    "pass_namespace_exempt_by_the_allow_list": (
        lambda r: changed(r, "ns-lakehouse", lambda i: i["metadata"]["labels"].update(
            {"pod-security.kubernetes.io/enforce": "privileged"})),
        set(),
        allowed("kubernetes-namespace-require-restricted-pod-security", "kubernetes:core/v1:Namespace::ns-lakehouse"),
    ),
    "fail_namespace_exempt_by_an_expired_entry": (
        lambda r: changed(r, "ns-lakehouse", lambda i: i["metadata"]["labels"].update(
            {"pod-security.kubernetes.io/enforce": "privileged"})),
        {("kubernetes-namespace-require-restricted-pod-security", "ns-lakehouse",
          "Namespace 'dp-lakehouse' enforces pod security level 'privileged'; label it "
          "pod-security.kubernetes.io/enforce=restricted or record the exemption."),
         ("pack-exemption-require-allow-list", "ns-lakehouse",
          "The exemption of `kubernetes:core/v1:Namespace::ns-lakehouse` from "
          "`kubernetes-namespace-require-restricted-pod-security` is refused: expired on 2027-01-14; renew it with a "
          "new date or fix the resource (policies/config/<stack>.json).")},
        allowed("kubernetes-namespace-require-restricted-pod-security", "kubernetes:core/v1:Namespace::ns-lakehouse",
                expires="2027-01-14"),
    ),
    "fail_plaintext_env": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["env"].append(
            {"name": "DREMIO_PASSWORD", "value": "hunter2"})),
        {("kubernetes-secret-disallow-plaintext", "dbt-runner",
          f"{CRON} holds secrets in plain text (env DREMIO_PASSWORD of container runner); reference a Kubernetes "
          "Secret instead.")},
    ),
    "pass_env_that_names_where_a_secret_is": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["env"].extend([
            {"name": "AB_KUBERNETES_SECRET_NAME", "value": "airbyte-auth-secrets"},
            {"name": "AB_JWT_SIGNATURE_SECRET_KEY", "value": "jwt-signature-secret"},
            {"name": "AB_AUTH_SECRET_CREATION_ENABLED", "value": "true"},
            {"name": "AB_INSTANCE_ADMIN_PASSWORD", "value": None},
            {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/secrets/gcs-log-creds/gcp.json"},
            {"name": "CONTROL_PLANE_TOKEN_ENDPOINT", "value": "http://airbyte-server:8001/api/v1/token"},
        ])),
        set(),
    ),
    "fail_env_secrets_that_look_like_references": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["env"].extend([
            {"name": "AWS_SECRET_KEY", "value": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
            {"name": "DATABASE_CREDENTIALS", "value": "postgresql://dbt:hunter2@db:5432/platform"},
        ])),
        {("kubernetes-secret-disallow-plaintext", "dbt-runner",
          f"{CRON} holds secrets in plain text (env AWS_SECRET_KEY of container runner); reference a Kubernetes "
          "Secret instead."),
         ("kubernetes-secret-disallow-plaintext", "dbt-runner",
          f"{CRON} holds passwords in plain text inside URLs (env DATABASE_CREDENTIALS of container runner: "
          "postgresql://dbt:****@db:5432/platform); keep the password in a Kubernetes Secret and write `$(VAR)` (an "
          "env variable from its secretKeyRef) or `${VAR}` in its place.")},
    ),
    "fail_password_in_a_url_whatever_the_env_name": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["env"].extend([
            {"name": "DATABASE_URL", "value": "postgresql://dbt:Pa55w0rd@db.example:5432/platform?sslmode=verify-full"},
            {"name": "WAREHOUSE", "value": "dremio+flight://dbt:s3cr3t@dremio:32010/dremio"},
        ])),
        {("kubernetes-secret-disallow-plaintext", "dbt-runner",
          f"{CRON} holds passwords in plain text inside URLs (env DATABASE_URL of container runner: "
          "postgresql://dbt:****@db.example:5432/platform?sslmode=verify-full; env WAREHOUSE of container runner: "
          "dremio+flight://dbt:****@dremio:32010/dremio); keep the password in a Kubernetes Secret and write `$(VAR)` "
          "(an env variable from its secretKeyRef) or `${VAR}` in its place.")},
    ),
    "pass_url_with_a_user_and_no_password_or_a_reference": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["env"].extend([
            {"name": "DATABASE_URL", "value": "postgresql://dbt@db.example:5432/platform"},
            {"name": "WAREHOUSE_URL", "value": "dremio+flight://dbt:$(DREMIO_PASSWORD)@dremio:32010/dremio"},
            {"name": "CACHE_PASSWORD_URI", "value": "rediss://default:${CACHE_PASSWORD}@valkey:6379/0"},
            {"name": "EMPTY_PASSWORD", "value": "postgresql://dbt:@db.example:5432/platform"},
        ])),
        set(),
    ),
    "pass_env_naming_a_secret_the_pod_mounts": (
        lambda r: changed(r, "dbt-runner", lambda i: (
            container(i)["env"].append({"name": "WEBHOOK_SECRET", "value": "runner-webhook-cert"}),
            i["spec"]["jobTemplate"]["spec"]["template"]["spec"].setdefault("volumes", []).append(
                {"name": "cert", "secret": {"secretName": "runner-webhook-cert"}}))),
        set(),
    ),
    "pass_env_naming_a_secret_the_pod_reads_by_key": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["env"].append(
            {"name": "DBT_CREDENTIALS_SECRET", "value": "dbt"})),
        set(),
    ),
    "fail_env_secret_beside_a_mounted_secret": (
        lambda r: changed(r, "dbt-runner", lambda i: (
            container(i)["env"].append({"name": "WEBHOOK_SECRET", "value": "c2VjcmV0LXZhbHVlLW5vdC1hLW5hbWU"}),
            i["spec"]["jobTemplate"]["spec"]["template"]["spec"].setdefault("volumes", []).append(
                {"name": "cert", "secret": {"secretName": "runner-webhook-cert"}}))),
        {("kubernetes-secret-disallow-plaintext", "dbt-runner",
          f"{CRON} holds secrets in plain text (env WEBHOOK_SECRET of container runner); reference a Kubernetes "
          "Secret instead.")},
    ),
    "fail_env_secret_named_like_a_secret_no_pod_reads": (
        lambda r: changed(r, "dbt-runner", lambda i: container(i)["env"].append(
            {"name": "WEBHOOK_SECRET", "value": "runner-webhook-cert"})),
        {("kubernetes-secret-disallow-plaintext", "dbt-runner",
          f"{CRON} holds secrets in plain text (env WEBHOOK_SECRET of container runner); reference a Kubernetes "
          "Secret instead.")},
    ),
    "fail_release_password": (
        lambda r: changed(r, "redis", lambda i: i["values"]["auth"]["aclUsers"]["default"].update(password="hunter2")),
        {("kubernetes-secret-disallow-plaintext", "redis",
          f"{REDIS} holds secrets in plain text (auth.aclUsers.default.password); reference a Kubernetes Secret "
          "instead.")},
    ),
    "fail_public_load_balancer": (
        add_service,
        {("kubernetes-service-disallow-public-load-balancer", "dremio",
          "Service 'dremio' is a public LoadBalancer; use ClusterIP (the deployer reaches services in-cluster).")},
    ),
    "pass_internal_load_balancer_per_cloud": (
        lambda r: add_annotated_services(r, {
            "aws-lbc": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
            "aws-legacy": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
            "gke": {"networking.gke.io/load-balancer-type": "Internal"},
            "aks": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}}),
        set(),
    ),
    "fail_load_balancer_annotated_but_public": (
        lambda r: add_annotated_services(r, {
            "aws-lbc": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
            "gke": {"networking.gke.io/load-balancer-type": "External"},
            "aks": {"service.beta.kubernetes.io/azure-load-balancer-internal": "false"}}),
        {("kubernetes-service-disallow-public-load-balancer", f"lb-{name}",
          f"Service 'lb-{name}' is a public LoadBalancer; use ClusterIP (the deployer reaches services in-cluster).")
         for name in ("aws-lbc", "gke", "aks")},
    ),
    "fail_node_port": (
        lambda r: changed(r, "dremio", lambda inputs: inputs["spec"].update(type="NodePort")),
        {("kubernetes-service-disallow-node-port", "dremio",
          "Service 'dremio' is a NodePort, open on every node's address; use ClusterIP (the deployer reaches "
          "services in-cluster).")},
    ),
    "fail_release_node_port": (
        lambda r: changed(r, "redis", lambda i: i["values"]["service"].update(type="NodePort")),
        {("kubernetes-service-disallow-node-port", "redis", f"{REDIS} exposes a NodePort at service.type; set "
          "ClusterIP.")},
    ),
    "pass_configmap_measures_and_paths_of_secrets": (
        lambda r: add_config_map(r, {"token-lifetime-seconds": "3600", "password-file": "/etc/dremio/password",
                                     "DB_PASSWORD_FILE": "/run/secrets/db-password", "session.token.ttl": "15m",
                                     "min-password-length": "16"}),
        set(),
    ),
    "fail_configmap_password_in_a_url_inside_a_file": (
        lambda r: add_config_map(r, {"app.conf": 'DATABASE_URI = "postgresql+psycopg2://superset:'
                                                 'hunter2@db:5432/superset"\nDEBUG = False\n',
                                     "upstream": "https://user:${TOKEN}@example.org/"}),
        {("kubernetes-secret-disallow-plaintext", "settings",
          "ConfigMap 'settings' holds passwords in plain text inside URLs (key app.conf: "
          "postgresql+psycopg2://superset:****@db:5432/superset); keep the password in a Kubernetes Secret and write "
          "`$(VAR)` (an env variable from its secretKeyRef) or `${VAR}` in its place.")},
    ),
    "fail_configmap_secret_beside_measures": (
        lambda r: add_config_map(r, {"token-lifetime-seconds": "3600", "api-token": "c2VjcmV0LXZhbHVl"}),
        {("kubernetes-secret-disallow-plaintext", "settings",
          "ConfigMap 'settings' holds secrets in plain text (key api-token); reference a Kubernetes Secret instead.")},
    ),
    "fail_release_load_balancer": (
        lambda r: changed(r, "redis", lambda i: i["values"]["service"].update(type="LoadBalancer")),
        {("kubernetes-service-disallow-public-load-balancer", "redis",
          f"{REDIS} exposes a LoadBalancer at service.type; set ClusterIP.")},
    ),
    "advisory_release_image_by_tag": (
        lambda r: changed(r, "redis", lambda i: i["values"]["image"].update(tag="9.1.4")),
        {("kubernetes-image-require-digest", "redis",
          f"{REDIS} uses images without a digest (valkey/valkey:9.1.4); pin each by the digest CI records in the "
          "image locks (images/digests.lock.json, images/vendor.lock.json).")},
    ),
    "fail_release_acl_config_inline": (
        lambda r: changed(r, "redis", lambda i: i["values"]["auth"].update(aclConfig="user default on >hunter2 ~*")),
        {("kubernetes-secret-disallow-plaintext", "redis",
          f"{REDIS} holds secrets in plain text (auth.aclConfig); reference a Kubernetes Secret instead.")},
    ),
    "fail_release_tls_off": (
        lambda r: changed(r, "redis", lambda i: i["values"]["tls"].update(enabled=False)),
        {("kubernetes-endpoint-require-tls", "redis",
          f"{REDIS} serves without TLS (tls.enabled is not true); turn TLS on.")},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exact_violations(case: str) -> None:
    mutate, expected, *allow_list = CASES[case]
    assert violations(mutate(baseline()), allow_list=allow_list[0] if allow_list else None) == expected
