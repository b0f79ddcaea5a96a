"""Mistakes in what a chart renders: one object the release installs changed (as a chart upgrade or a values key that
reaches a template would change it), judged as `make render GATE=1` hands rendered objects to the pack. Only when
the chart cache holds the pinned charts; otherwise these are skipped and say so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.offline.harness import Recording
from infra.offline.security_mutants.bench import Draft, Mutation

P = "prod"
DEPLOYMENT, SERVICE, STATEFULSET = "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service", \
    "kubernetes:apps/v1:StatefulSet"
OPERATOR = "prometheus:dp-monitoring/prometheus-operator"
KSM = "prometheus:dp-monitoring/prometheus-kube-state-metrics"
VALKEY = "redis:dp-presentation/redis"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
FLUENT_BIT = "fluent-bit:dp-logs/fluent-bit"


def _object(type_: str, name: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Recording], None]:
    def change(recording: Recording) -> None:
        found = [item for item in recording.resources if item.type == type_ and item.name == name]
        if len(found) != 1:
            raise LookupError(f"rendered {type_} {name}: found {len(found)}")
        edit(recording.own(found[0]).inputs if isinstance(recording, Draft) else found[0].inputs)

    return change


def _first_container(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        edit(document["spec"]["template"]["spec"]["containers"][0])

    return change


def r(id: str, what: str, change, *expect: tuple[str, str], missing: str = "") -> Mutation:
    return Mutation(id=id, layer="rendered", stack=P, what=what, change=change, expect=frozenset(expect),
                    missing=missing)


RENDERED = [
    r("rendered-privileged-container", "the rendered Prometheus Operator container is privileged",
      _object(DEPLOYMENT, OPERATOR, _first_container(
          lambda container: container.setdefault("securityContext", {}).__setitem__("privileged", True))),
      ("kubernetes-pod-require-restricted-security", OPERATOR)),
    r("rendered-escalation", "the rendered kube-state-metrics container may escalate privileges",
      _object(DEPLOYMENT, KSM, _first_container(
          lambda container: container.setdefault("securityContext", {}).__setitem__(
              "allowPrivilegeEscalation", True))),
      ("kubernetes-pod-require-restricted-security", KSM)),
    r("rendered-host-pid", "the rendered Valkey pod shares the host's PID namespace",
      _object(STATEFULSET, VALKEY, lambda document: document["spec"]["template"]["spec"].__setitem__(
          "hostPID", True)),
      ("kubernetes-pod-require-restricted-security", VALKEY)),
    r("rendered-latest-image", "the rendered operator image is tagged latest",
      _object(DEPLOYMENT, OPERATOR, _first_container(lambda container: container.__setitem__(
          "image", "quay.io/prometheus-operator/prometheus-operator:latest"))),
      ("kubernetes-image-disallow-latest-tag", OPERATOR)),
    r("rendered-no-limits", "the rendered operator container has no limits",
      _object(DEPLOYMENT, OPERATOR, _first_container(lambda container: container.pop("resources", None))),
      ("kubernetes-container-require-resource-limits", OPERATOR)),
    r("rendered-node-port", "the rendered Valkey Service is a NodePort",
      _object(SERVICE, VALKEY, lambda document: document["spec"].__setitem__("type", "NodePort")),
      ("kubernetes-service-disallow-node-port", VALKEY)),
    r("rendered-public-load-balancer", "the rendered kube-state-metrics Service is an internet-facing LoadBalancer",
      _object(SERVICE, KSM, lambda document: document["spec"].__setitem__("type", "LoadBalancer")),
      ("kubernetes-service-disallow-public-load-balancer", KSM)),
    r("rendered-literal-password-env", "the rendered Valkey container gets a literal password variable",
      _object(STATEFULSET, VALKEY, _first_container(lambda container: container.setdefault("env", []).append(
          {"name": "VALKEY_PASSWORD", "value": "v4lk3y-pa55"}))),
      ("kubernetes-secret-disallow-plaintext", VALKEY)),
    r("rendered-exempt-root-adds-capability", "the rendered Fluent Bit DaemonSet, whose release is exempt from the "
      "restricted-pod policy's root and hostPath checks only, adds SYS_ADMIN",
      _object(DAEMONSET, FLUENT_BIT, _first_container(
          lambda container: container.setdefault("securityContext", {}).setdefault("capabilities", {}).__setitem__(
              "add", ["SYS_ADMIN"]))),
      ("kubernetes-pod-require-restricted-security", FLUENT_BIT)),
]

MUTATIONS = RENDERED
