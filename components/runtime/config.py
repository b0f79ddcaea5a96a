"""The runtime's section of the stack config (`dataplatform:kubernetes`): the cluster and its base.

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from infra.model import naming
from infra.model.errors import InputError, Problem
from infra.model.sections import (
    KUBERNETES_NAME,
    NO_SPACE,
    Cidrs,
    Section,
    StackIdentity,
    certificate_text,
    read_pem,
)


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

    def issuer(self, stack: StackIdentity) -> str:
        """The ClusterIssuer that signs the platform's certificates: the organisation's, else the stack's own."""
        return self.ca.issuer or naming.stack_issuer(stack.name_prefix, stack.stack)
