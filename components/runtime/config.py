"""The runtime's sections of the stack config: `dataplatform:kubernetes` (the cluster and its base) and
`dataplatform:alerting` (where the Alertmanager it installs sends alerts; components/runtime/alerting.py).

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from infra.model import naming
from infra.model.errors import InputError, Problem
from infra.model.sections import (
    EMAIL,
    HTTPS_URL,
    KUBERNETES_NAME,
    NO_SPACE,
    Cidrs,
    Section,
    StackIdentity,
    certificate_text,
    read_pem,
    repeated_names,
)
from infra.model.stackfiles import OFFLINE_SECRET_PLACEHOLDER


class CaSettings(Section):
    certificate: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="The organisation's CA certificate: PEM text, or the path of a PEM file (relative paths from "
        "the project root). Unset: the runtime generates the stack's CA (dev only).",
    )
    issuer: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")] | None = Field(
        default=None, description="Existing cert-manager ClusterIssuer that signs with that CA; required with it."
    )

    @model_validator(mode="after")
    def _together(self) -> CaSettings:
        if (self.certificate is None) != (self.issuer is None):
            absent = "issuer" if self.issuer is None else "certificate"
            raise InputError(Problem(absent, "`kubernetes.ca.certificate` and `kubernetes.ca.issuer` go together: set "
                                          "both (organisation CA) or neither (generated)"))
        if self.certificate is not None:
            try:
                self.pem  # noqa: B018 (a path that does not read fails here, under this key)
            except ValueError as error:
                raise InputError(Problem("certificate", str(error))) from None
        return self

    @property
    def pem(self) -> str | None:
        """The certificate as PEM text, read from the file when the value is a path."""
        if self.certificate is None:
            return None
        if self.certificate.lstrip().startswith("-----BEGIN"):
            return certificate_text(self.certificate, "the PEM text")
        return read_pem(self.certificate)


class NetworkSettings(Section):
    """Where the addresses outside the pod network are, as CIDRs: the NetworkPolicies open a port there and nowhere
    else. Each is required once a workload of the stack needs it; `[0.0.0.0/0]` allows any address."""

    api_server: Cidrs | None = Field(
        default=None,
        description="The Kubernetes API server's endpoint addresses, which operators and controllers call and "
        "which calls their webhooks (`kubectl get endpointslices -l kubernetes.io/service-name=kubernetes`).",
    )
    nodes: Cidrs | None = Field(
        default=None, description="The nodes' addresses, where Prometheus scrapes each kubelet (10250)."
    )
    endpoints: dict[Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")], Cidrs] = Field(
        default_factory=dict,
        description="Other endpoints outside the cluster, by name: `s3` (the lake in prod), `rds`, `aws-apis` (the "
        "AWS provider's endpoints), `state-backend` (the Pulumi state), `airbyte-registry` (Airbyte's connector "
        "registry). A stack is told which of them it needs.",
    )


# Label keys and values as Kubernetes allows them (a DNS-subdomain prefix, a name; a value up to 63 characters).
LABEL_KEY = r"^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$"
READER_NAME = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"
# The labels the grafana chart gives its pods (grafana/helm-charts charts/grafana/templates/_helpers.tpl,
# `grafana.selectorLabels`: app.kubernetes.io/name is the chart's name unless nameOverride changes it).
GRAFANA_POD_LABELS = {"app.kubernetes.io/name": "grafana"}


class PrometheusReader(Section):
    """A client outside the stack that queries Prometheus's HTTP API (a team's Grafana): through the authenticating
    TLS front in Prometheus's pods (port 9443, HTTPS verified with the stack's CA, HTTP basic authentication with its
    own login), from its pods in a namespace of the cluster or from addresses outside the pod network."""

    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")] | None = Field(
        default=None,
        description="The namespace its pods run in, when it runs in this cluster; the NetworkPolicy admits those pods "
        "(by `podLabels`) and no others. Give `namespace` or `cidrs`, not both.",
    )
    pod_labels: dict[Annotated[str, Field(pattern=LABEL_KEY)], Annotated[str, Field(pattern=LABEL_VALUE)]] = Field(
        default_factory=lambda: dict(GRAFANA_POD_LABELS), min_length=1,
        description="Labels its pods carry, with `namespace` (default: the grafana chart's "
        "`app.kubernetes.io/name: grafana`).",
    )
    cidrs: Cidrs | None = Field(
        default=None,
        description="Where it connects from, when it runs outside the pod network (another cluster, a VM): the "
        "NetworkPolicy admits these addresses on 9443 only. Give `namespace` or `cidrs`, not both.",
    )

    @model_validator(mode="after")
    def _one_place(self) -> PrometheusReader:
        if self.namespace is None and self.cidrs is None:
            # Either key is the one to fix: both are named, so the message points at the one the reader lost.
            raise InputError(
                Problem("namespace", "missing: give it, with `podLabels`, for a Grafana in this cluster; or `cidrs`"),
                Problem("cidrs", "missing: give it for a reader outside the pod network; or `namespace`"))
        if self.namespace is not None and self.cidrs is not None:
            raise InputError(Problem("namespace", "given with `cidrs`: a reader is in this cluster or outside it, "
                                     "give one of the two"),
                             Problem("cidrs", "given with `namespace`: give one of the two"))
        platform = {naming.namespace_name(layer) for layer in naming.LAYER_NAMESPACES}
        if self.namespace is not None and self.namespace in platform:
            raise InputError(Problem("namespace", "is one of the platform's own namespaces: a reader of Prometheus "
                                     "runs in a namespace of its own", self.namespace))
        return self


class KubernetesConfig(Section):
    context: Annotated[str, Field(min_length=1, pattern=NO_SPACE)] | None = Field(
        default=None,
        description="kubeconfig context to deploy to; None uses the deployer's in-cluster service account "
        "(docs/decisions/0001-deployment-topology.md) or the current context.",
    )
    ca: CaSettings = Field(default_factory=CaSettings, description="Where the stack's CA comes from.")
    install_cert_manager: bool = Field(
        description="Install cert-manager; false when the cluster already runs it (its issuer then exists)."
    )
    install_cloudnative_pg: bool = Field(description="Install the CloudNativePG operator (in-cluster PostgreSQL).")
    alertmanager: Literal["install", "existing"] = Field(
        description="`install` an Alertmanager with Prometheus, or `existing`: the cluster already has one."
    )
    replicas: Annotated[int, Field(ge=1, le=5)] = Field(description="Replicas of each shared service.")
    storage_class: Annotated[str, Field(pattern=KUBERNETES_NAME)] | None = Field(
        default=None, description="StorageClass of volumes; None: the cluster's default."
    )
    minio_volume_gib: Annotated[int, Field(ge=1, le=10000)] = Field(
        default=20, description="Volume size of the dev MinIO, GiB."
    )
    prometheus_retention_days: Annotated[int, Field(ge=1, le=365)] = Field(
        description="Days Prometheus keeps metrics."
    )
    network: NetworkSettings = Field(
        default_factory=NetworkSettings, description="Addresses outside the pod network, for the NetworkPolicies."
    )
    prometheus_readers: dict[Annotated[str, Field(pattern=READER_NAME)], PrometheusReader] = Field(
        default_factory=dict,
        description="Who may query Prometheus's API from outside the stack (a team's Grafana), by name: each gets a "
        "login of that name (its password generated, in the Secret `prometheus-reader-<name>` of `dp-monitoring` and "
        "the stack output `prometheusReaders`) and a NetworkPolicy admitting it to Prometheus's authenticating TLS "
        "front on 9443 (docs/runtime.md, \"Dashboards\"). Unset: nobody outside the stack reaches Prometheus.",
    )

    def issuer(self, stack: StackIdentity) -> str:
        """The ClusterIssuer that signs the platform's certificates: the organisation's, else the stack's own."""
        return self.ca.issuer or naming.stack_issuer(stack.name_prefix, stack.stack)


# ---- alerting (`dataplatform:alerting`): where the installed Alertmanager sends what it receives ---------------

SEVERITIES = ("critical", "warning")
RECEIVER_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
# Alertmanager's duration notation, restricted to whole units both 0.25 and 0.34 parse alike.
DURATION = r"^[1-9][0-9]*(s|m|h|d)$"
DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SMARTHOST = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?:[0-9]{1,5}$"
# The receiver every alert reaches when no route of its severity is configured: it has no integration, so those
# alerts are shown in Alertmanager's UI and API and sent nowhere. Its name says so wherever it appears.
UI_ONLY_RECEIVER = "alertmanager-ui-only"


def seconds(duration: str) -> int:
    return int(duration[:-1]) * DURATION_SECONDS[duration[-1]]


def secret_command(path: str, what: str) -> str:
    return f"`pulumi config set --secret --path 'dataplatform:{path}' <{what}>`"


class WebhookReceiver(Section):
    """An https endpoint that takes Alertmanager's webhook payload (a chat bridge, an incident tool)."""

    url: SecretStr | None = Field(
        default=None,
        description="The https URL, a secret (it often carries a token): "
        "`pulumi config set --secret --path 'dataplatform:alerting.receivers.<name>.webhook.url' <url>`.",
    )
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=443,
        description="The port the URL names (443 when it names none), which the NetworkPolicies open towards the "
        "`alert-webhook` endpoint; kept apart from the secret URL, and checked against it.",
    )


class EmailReceiver(Section):
    """Mail through an SMTP relay that speaks TLS (STARTTLS, or TLS from the first byte on port 465) and takes a
    login; Alertmanager refuses to send when the relay offers no TLS."""

    to: Annotated[tuple[Annotated[str, Field(pattern=EMAIL)], ...], Field(min_length=1)] = Field(
        description="The addresses the alerts go to."
    )
    from_: Annotated[str, Field(pattern=EMAIL)] = Field(alias="from", description="The sender address.")
    smarthost: Annotated[str, Field(pattern=SMARTHOST)] = Field(
        description="The relay as `host:port` (587 STARTTLS, 465 TLS)."
    )
    username: Annotated[str, Field(min_length=1, pattern=NO_SPACE)] = Field(description="The relay login.")
    password: Annotated[SecretStr, Field(min_length=1)] | None = Field(
        default=None,
        description="The relay password, a secret: "
        "`pulumi config set --secret --path 'dataplatform:alerting.receivers.<name>.email.password' <password>`.",
    )

    @property
    def port(self) -> int:
        return int(self.smarthost.rsplit(":", 1)[1])


class ReceiverSettings(Section):
    """One named receiver: exactly one of `webhook` or `email`."""

    webhook: WebhookReceiver | None = Field(default=None, description="Deliver to an https webhook.")
    email: EmailReceiver | None = Field(default=None, description="Deliver by e-mail.")
    ca: Literal["public", "platform"] = Field(
        default="public",
        description="What verifies the receiver's TLS certificate: `public` (the public CAs Alertmanager's image "
        "trusts) or `platform` (the stack's CA, `kubernetes.ca`: for a relay or webhook inside the organisation).",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ReceiverSettings:
        if (self.webhook is None) == (self.email is None):
            raise InputError(Problem("", "give exactly one of `webhook` (url) or `email` (to, from, smarthost, "
                                         "username, password)"))
        return self

    @property
    def port(self) -> int:
        """The port Alertmanager opens to reach it."""
        if self.email is not None:
            return self.email.port
        assert self.webhook is not None
        return self.webhook.port


def webhook_port(url: str) -> int:
    authority = url.removeprefix("https://").split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host_port = authority.rsplit("@", 1)[-1]
    if host_port.startswith("["):
        tail = host_port.rsplit("]", 1)[-1]
        return int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else 443
    _, _, port = host_port.rpartition(":")
    return int(port) if ":" in host_port and port.isdigit() else 443


def _runbook_base_problems(url: str) -> list[Problem]:
    parts = urlsplit(url)
    if parts.query or parts.fragment or "#" in url:
        return [Problem("runbookBaseUrl", "must not carry a query or a fragment: each alert appends "
                        "`<document>#<section>` to it", url)]
    if not parts.hostname:
        return [Problem("runbookBaseUrl", "must name a host (https://host[:port]/path/)", url)]
    return []


class AlertRoutes(Section):
    """Which receivers each severity reaches; a severity with none stays in Alertmanager's UI."""

    critical: tuple[Annotated[str, Field(pattern=RECEIVER_NAME)], ...] = Field(
        default=(), description="Receivers of critical alerts (someone must act now)."
    )
    warning: tuple[Annotated[str, Field(pattern=RECEIVER_NAME)], ...] = Field(
        default=(), description="Receivers of warnings (act within the working day)."
    )


class AlertingSettings(Section):
    """What the installed Alertmanager does with alerts (`kubernetes.alertmanager: install`): named receivers,
    which of them each severity reaches, how alerts are grouped and repeated. Without receivers, every alert is
    visible in Alertmanager's UI only and reaches no one (dev's default)."""

    receivers: dict[Annotated[str, Field(pattern=RECEIVER_NAME)], ReceiverSettings] = Field(
        default_factory=dict,
        description="Receivers by name: each a `webhook` (url, a secret) or an `email` (to, from, smarthost, "
        "username, password, a secret), with `ca` public or platform.",
    )
    routes: AlertRoutes = Field(
        default_factory=AlertRoutes, description="Receivers by severity (`critical`, `warning`): names of receivers."
    )
    group_wait: Annotated[str, Field(pattern=DURATION)] = Field(
        default="30s", description="How long the first alert of a group waits for others before it is sent."
    )
    group_interval: Annotated[str, Field(pattern=DURATION)] = Field(
        default="5m", description="How long a group waits before it sends what changed in it."
    )
    repeat_interval: Annotated[str, Field(pattern=DURATION)] = Field(
        default="4h", description="How long before an alert that still fires is sent again."
    )
    runbook_base_url: Annotated[str, Field(pattern=HTTPS_URL)] | None = Field(
        default=None,
        description="Where this repository's files can be read in a browser, as an absolute https URL (for "
        "example `https://git.example.com/data/dataplatform/blob/v1.4.0/`): every alert's `runbook_url` is this "
        "base, the runbook's document and its section (`docs/runtime.md#<alertname>`). Required once a receiver "
        "delivers alerts; unset, the link is the repository-relative path, readable from a checkout only.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AlertingSettings:
        problems: list[Problem] = []
        names = sorted(self.receivers)
        for severity in SEVERITIES:
            chosen = getattr(self.routes, severity)
            for index, name in enumerate(chosen):
                if name not in self.receivers:
                    known = ", ".join(names) or "none"
                    problems.append(Problem(
                        f"routes.{severity}[{index}]", f"no receiver of that name under `alerting.receivers` "
                        f"(receivers: {known}); add it there or remove it from the route", name))
            for name in repeated_names(list(chosen)):
                problems.append(Problem(f"routes.{severity}", f"names receiver '{name}' twice; list it once",
                                        list(chosen)))
        routed = set(self.routes.critical) | set(self.routes.warning)
        for name, receiver in self.receivers.items():
            if name == UI_ONLY_RECEIVER:
                problems.append(Problem(f"receivers.{name}", "reserved for alerts no route delivers; choose "
                                        "another name"))
            if name not in routed:
                problems.append(Problem(f"receivers.{name}", "no route uses it, so it would never get an alert: "
                                        "name it under `alerting.routes.critical` or `.warning`, or remove it"))
            where = f"alerting.receivers.{name}"
            if receiver.webhook is not None:
                url = receiver.webhook.url
                if url is None:
                    problems.append(Problem(f"receivers.{name}.webhook.url", "required: set it as a secret with "
                                            + secret_command(f"{where}.webhook.url", "https-url")))
                elif url.get_secret_value() == OFFLINE_SECRET_PLACEHOLDER:
                    pass  # an encrypted value the offline tiers cannot read (infra/model/stackfiles.py)
                elif not re.match(HTTPS_URL, url.get_secret_value()):
                    problems.append(Problem(f"receivers.{name}.webhook.url", "must be an https URL (https://host"
                                            "[:port]/path): Alertmanager sends alerts over TLS only; set it with "
                                            + secret_command(f"{where}.webhook.url", "https-url")))
                elif webhook_port(url.get_secret_value()) != receiver.webhook.port:
                    problems.append(Problem(f"receivers.{name}.webhook.port", "must be the port the URL names "
                                            f"({webhook_port(url.get_secret_value())}; 443 when it names none): "
                                            "the NetworkPolicies open this one", receiver.webhook.port))
            if receiver.email is not None and receiver.email.password is None:
                problems.append(Problem(f"receivers.{name}.email.password", "required: the relay login's password, "
                                        "set as a secret with " + secret_command(f"{where}.email.password",
                                                                                 "password")))
        if self.runbook_base_url is not None:
            problems += _runbook_base_problems(self.runbook_base_url)
        elif self.receivers:
            problems.append(Problem("runbookBaseUrl", "required when receivers deliver alerts: a runbook link "
                                    "must open from a mail or a chat message; give the https URL under which "
                                    "this repository's files are browsable (e.g. `https://git.example.com/data/"
                                    "dataplatform/blob/main/`)"))
        if seconds(self.repeat_interval) < seconds(self.group_interval):
            problems.append(Problem("repeatInterval", f"must be at least `groupInterval` ({self.group_interval}): "
                                    "Alertmanager repeats only when a group is flushed", self.repeat_interval))
        if problems:
            raise InputError(*problems)
        return self

    @property
    def runbook_base(self) -> str:
        """What every alert's runbook path is appended to: the base URL ending in `/`, or "" (relative links)."""
        if self.runbook_base_url is None:
            return ""
        return self.runbook_base_url.rstrip("/") + "/"

    def secret_paths(self) -> list[str]:
        """The key paths (under `dataplatform:`) of the secrets this section holds."""
        paths = []
        for name, receiver in self.receivers.items():
            if receiver.webhook is not None and receiver.webhook.url is not None:
                paths.append(f"alerting.receivers.{name}.webhook.url")
            if receiver.email is not None and receiver.email.password is not None:
                paths.append(f"alerting.receivers.{name}.email.password")
        return paths

    def receivers_of(self, severity: str) -> tuple[str, ...]:
        return tuple(getattr(self.routes, severity))

    def reaches(self, kind: Literal["webhook", "email"]) -> list[int]:
        """The ports Alertmanager opens to receivers of this kind, sorted."""
        return sorted({receiver.port for receiver in self.receivers.values()
                       if getattr(receiver, kind) is not None})

    @property
    def uses_platform_ca(self) -> bool:
        return any(receiver.ca == "platform" for receiver in self.receivers.values())
