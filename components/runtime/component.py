"""Runtime layer: `KubernetesRuntime`, the base every product stands on, producing the `ClusterContext`.

Example (inside a Pulumi program)::

    runtime = KubernetesRuntime("runtime", config.kubernetes, config.identity, config.storage,
                                log_sources=LOG_SOURCES, hosted=[cache.hosted_service(...)],
                                flows=flow_tables(config, catalog), networks=outside_networks(config))
    lake = DataLake(..., minio_credentials=runtime.minio_root, ca_file=runtime.context.ca_file)

What it declares, in the first-deploy order of docs/decisions/0001-deployment-topology.md:
1. one namespace per layer labelled for the restricted pod security standard (the documented exception:
   `dp-logs`, see `POD_SECURITY_EXCEPTIONS`), and the NetworkPolicies generated from the products' flow tables
   (components/runtime/network.py);
2. cert-manager (unless the cluster runs it) and the stack's CA: dev generates one (pulumi-tls) and a CA
   ClusterIssuer; prod takes the organisation's PEM and existing issuer from config. The PEM goes to a
   `TrustBundleFile` on the deployer for providers that read files;
3. the shared services from pinned charts (components/runtime/values.py): CloudNativePG and ECK operators,
   MinIO in dev (with its KMS key and audit webhook), the Prometheus Operator stack and Fluent Bit (shipping the
   products' `LogSource`s), with their secrets generated into Kubernetes Secrets and their TLS certificates from
   cert-manager; Alertmanager's configuration from the stack's `alerting` section (components/runtime/alerting.py)
   in a Secret of its own;
4. the services products have it run for them (`HostedService`: Superset's Valkey), each with its release, its
   server certificate and its generated password, declared like the shared services.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_tls as tls

from components.kit.base import child_options, type_token
from components.kit.cluster import ClusterContext, server_certificate
from components.kit.flows import FlowTable
from components.kit.images import image_references
from components.kit.release import HostedService, ProductRelease, ServerCertificate, declare_release
from components.logs.shipping import LakeLogs, LogSource
from components.runtime import alerting, prometheus_front, values
from components.runtime.config import AlertingSettings, KubernetesConfig
from components.runtime.network import network_policies
from components.runtime.trust_bundle import TrustBundleFile, default_path
from components.storage.config import StorageConfig
from infra.model import naming
from infra.model.naming import LAYER_NAMESPACES, namespace_name, service_host
from infra.model.sections import StackIdentity

# Layers whose namespace cannot enforce `restricted`, the level they enforce instead, and why.
# Layer -> the pod security level its namespace enforces instead of restricted. Each is an exemption from
# `kubernetes-namespace-require-restricted-pod-security`, listed with its reason and expiry in the stack's policy
# config: Fluent Bit reads node log files through hostPath volumes as root, and Elasticsearch nodes may raise
# vm.max_map_count in a privileged init container.
POD_SECURITY_EXCEPTIONS: dict[str, str] = {"logs": "privileged"}
CA_VALIDITY_HOURS = 24 * 365 * 5


def releases(config: KubernetesConfig, stack: StackIdentity, storage: StorageConfig,
             log_sources: Sequence[LogSource], hosted: Sequence[HostedService],
             alerting: AlertingSettings | None = None, label_allowlist: Sequence[str] = (),
             lake_logs: LakeLogs | None = None,
             lake_pod: Mapping[str, Sequence[dict[str, Any]]] | None = None) -> list[ProductRelease]:
    """The shared and hosted services' releases of this stack, in install order; `label_allowlist`: the object
    labels kube-state-metrics exports for the products' alerts; `lake_logs` and `lake_pod`: where the log shipper
    writes the lake's `logs` layer and what its pods take for it (values.fluent_bit)."""
    specs = [values.cert_manager(config)] if config.install_cert_manager else []
    if config.install_cloudnative_pg:
        specs.append(values.cloudnative_pg(config))
    if storage.backend == "minio":
        specs.append(values.minio(config))
    specs += [service.release for service in hosted]
    # The Prometheus Operator's CRDs before the releases that render its kinds (values.WAITS_FOR).
    specs += [values.kube_prometheus_stack(config, config.issuer(stack), alerting or AlertingSettings(),
                                           label_allowlist),
              values.eck_operator(config),
              values.fluent_bit(config, log_sources, lake_logs, lake_pod)]
    return specs


class KubernetesRuntime(pulumi.ComponentResource):
    """Namespaces, CA, operators, shared services and NetworkPolicies; `context` is what other layers use."""

    context: ClusterContext
    minio_kms_key_id: str | None
    minio_root: tuple[pulumi.Output[str], pulumi.Output[str]] | None

    def __init__(
        self,
        name: str,
        config: KubernetesConfig,
        stack: StackIdentity,
        storage: StorageConfig,
        log_sources: Sequence[LogSource],
        hosted: Sequence[HostedService],
        flows: Sequence[FlowTable],
        networks: Mapping[str, tuple[str, ...]],
        alerting: AlertingSettings | None = None,
        label_allowlist: Sequence[str] = (),
        opts: pulumi.ResourceOptions | None = None,
        lake_logs: LakeLogs | None = None,
        lake_pod: Mapping[str, Sequence[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(type_token("runtime", "KubernetesRuntime"), name, None, opts)
        self._name = name
        self._config = config
        self._stack = stack
        self._issuer = config.issuer(stack)
        self._install_minio = storage.backend == "minio"
        self._minio_kms_key = storage.minio_kms_key(stack)
        self._hosted = tuple(hosted)
        self._alerting = alerting or AlertingSettings()
        self.provider = k8s.Provider(f"{name}-kubernetes", context=config.context, opts=child_options(self))
        self.namespaces = {layer: self._namespace(layer) for layer in LAYER_NAMESPACES}
        names = {layer: namespace.metadata.name for layer, namespace in self.namespaces.items()}
        self.network_policies = [self._network_policy(manifest) for manifest in network_policies(flows, networks)]
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        specs = {spec.name: spec for spec in releases(config, stack, storage, log_sources, hosted, self._alerting,
                                                       label_allowlist, lake_logs, lake_pod)}
        if "cert-manager" in specs:
            self._release(specs.pop("cert-manager"))
        ca_pem, issuer_ready = self._certificate_authority()
        ca_file = TrustBundleFile(f"{name}-ca-file", pem=ca_pem, path=default_path(stack.stack), opts=self._child())
        certificates = self._certificates(issuer_ready)
        secrets = self._secrets(ca_pem)
        if config.alertmanager == "install" or config.prometheus_readers:
            secrets.setdefault(values.PROMETHEUS_RELEASE, []).append(self._monitoring_ca(ca_pem))
        if config.alertmanager == "install":
            secrets[values.PROMETHEUS_RELEASE].append(self._alertmanager_config())
        self.prometheus_readers: dict[str, dict[str, pulumi.Input[str]]] = {}
        if config.prometheus_readers:
            secrets[values.PROMETHEUS_RELEASE] += self._prometheus_front()
        for spec in specs.values():
            needs = certificates.get(spec.name, []) + secrets.get(spec.name, [])
            needs += [self.releases[release] for release in values.WAITS_FOR.get(spec.name, ())]
            self._release(spec, depends_on=needs)
        self.minio_kms_key_id = self._minio_kms_key if self._install_minio else None
        self.minio_root = self._credentials_after("minio") if self._install_minio else None
        self.context = ClusterContext(
            namespaces=names,
            ca_pem=ca_pem,
            ca_file=ca_file.path,
            issuer=self._issuer,
            kubernetes=self.provider,
            operators=dict(self.releases),
            services=self._endpoints(),
            images=image_references(),
            replicas=config.replicas,
            storage_class=config.storage_class,
            runbook_base=self._alerting.runbook_base,
        )
        self.register_outputs(
            {
                "namespaces": names,
                "issuer": self._issuer,
                "caFile": ca_file.path,
                "services": self.context.services,
                "releases": sorted(self.releases),
            }
        )

    # ---- plumbing ---------------------------------------------------------------------------------

    def _child(self, **extra) -> pulumi.ResourceOptions:
        return child_options(self, provider=self.provider, **extra)

    def _namespace(self, layer: str) -> k8s.core.v1.Namespace:
        level = POD_SECURITY_EXCEPTIONS.get(layer, "restricted")
        labels = {
            "app.kubernetes.io/part-of": "dataplatform",
            "dataplatform/layer": layer,
            "pod-security.kubernetes.io/enforce": level,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }
        return k8s.core.v1.Namespace(
            f"{self._name}-ns-{layer}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace_name(layer), labels=labels),
            opts=self._child(),
        )

    def _namespace_of(self, layer: str) -> pulumi.Output[str]:
        return self.namespaces[layer].metadata.name

    def _network_policy(self, manifest: dict) -> k8s.networking.v1.NetworkPolicy:
        metadata = manifest["metadata"]
        layer = metadata["namespace"].removeprefix("dp-")
        return k8s.networking.v1.NetworkPolicy(
            f"{self._name}-netpol-{layer}-{metadata['name']}",
            metadata={**metadata, "namespace": self._namespace_of(layer)},
            spec=manifest["spec"],
            opts=self._child(),
        )

    def _release(self, spec: ProductRelease, depends_on: list[pulumi.Resource] | None = None) -> None:
        after = self._after_cert_manager()
        self.releases[spec.name] = declare_release(
            f"{self._name}-{spec.name}",
            spec,
            self._namespace_of(spec.layer),
            self._child(depends_on=after + (depends_on or [])),
        )

    def _after_cert_manager(self) -> list[pulumi.Resource]:
        return [self.releases["cert-manager"]] if "cert-manager" in self.releases else []

    # ---- CA and certificates ----------------------------------------------------------------------

    def _certificate_authority(self) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
        """The CA PEM, and what leaf certificates must wait for (the issuer, when this stack creates it)."""
        pem, stack = self._config.ca.pem, self._stack
        if pem is not None:
            return pulumi.Output.from_input(pem), []
        key = tls.PrivateKey(f"{self._name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child_options(self))
        certificate = tls.SelfSignedCert(
            f"{self._name}-ca",
            private_key_pem=key.private_key_pem,
            is_ca_certificate=True,
            validity_period_hours=CA_VALIDITY_HOURS,
            early_renewal_hours=24 * 30,
            allowed_uses=["cert_signing", "crl_signing"],
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"{stack.name_prefix}-{stack.stack} platform CA", organization=stack.name_prefix
            ),
            opts=child_options(self),
        )
        secret = k8s.core.v1.Secret(
            f"{self._name}-ca-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="platform-ca", namespace=self._namespace_of("system")),
            type="kubernetes.io/tls",
            string_data={"tls.crt": certificate.cert_pem, "tls.key": pulumi.Output.secret(key.private_key_pem)},
            opts=self._child(additional_secret_outputs=["stringData", "data"]),
        )
        issuer = k8s.apiextensions.CustomResource(
            f"{self._name}-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": self._issuer},
            spec={"ca": {"secretName": secret.metadata.name}},
            opts=self._child(depends_on=self._after_cert_manager()),
        )
        return certificate.cert_pem, [issuer]

    def _certificates(self, issuer_ready: list[pulumi.Resource]) -> dict[str, list[pulumi.Resource]]:
        """cert-manager Certificates of the shared services, keyed by the release that mounts them."""
        by_release = {"minio": "minio", "prometheus": "prometheus", "alertmanager": "prometheus",
                      "log-shipper": "fluent-bit"}
        wanted: list[tuple[str, str, ServerCertificate]] = [
            (service, by_release[service], certificate) for service, certificate in values.TLS_SECRETS.items()
            if (service != "minio" or self._install_minio)
            and (service != "alertmanager" or self._config.alertmanager == "install")
        ]
        wanted += [(service.name, service.release.name, service.certificate) for service in self._hosted]
        found: dict[str, list[pulumi.Resource]] = {}
        for service, release, wanted_certificate in wanted:
            certificate = k8s.apiextensions.CustomResource(
                f"{self._name}-{service}-certificate",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata={"name": wanted_certificate.secret, "namespace": self._namespace_of(wanted_certificate.layer)},
                spec=server_certificate(wanted_certificate.secret, list(wanted_certificate.dns_names), self._issuer),
                opts=self._child(depends_on=self._after_cert_manager() + issuer_ready),
            )
            found.setdefault(release, []).append(certificate)
        return found

    # ---- secrets ------------------------------------------------------------------------------------

    def _secret(self, role: str, layer: str, secret_name: str, data: dict[str, pulumi.Input[str]]):
        return k8s.core.v1.Secret(
            f"{self._name}-{role}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=self._namespace_of(layer)),
            type="Opaque",
            string_data=data,
            opts=self._child(additional_secret_outputs=["stringData", "data"]),
        )

    def _secrets(self, ca_pem: pulumi.Input[str]) -> dict[str, list[pulumi.Resource]]:
        """Generated credentials in Kubernetes Secrets, keyed by the release that reads them."""
        name, stack, kms_key_name = self._name, self._stack, self._minio_kms_key
        found: dict[str, list[pulumi.Resource]] = {}
        for service in self._hosted:
            password = random.RandomPassword(f"{name}-{service.name}-password", length=40, special=False,
                                             opts=child_options(self))
            passwords = {service.password_key: pulumi.Output.secret(password.result)}
            for key in service.other_password_keys:
                other = random.RandomPassword(f"{name}-{service.name}-{key}", length=40, special=False,
                                              opts=child_options(self))
                passwords[key] = pulumi.Output.secret(other.result)
            found[service.release.name] = [
                self._secret(f"{service.name}-auth", service.release.layer, service.password_secret, passwords)
            ]
        if self._install_minio:
            root_user = naming.physical_name(stack.name_prefix, stack.stack, "root")
            root_password = random.RandomPassword(f"{name}-minio-root-password", length=40, special=False,
                                                  opts=child_options(self))
            kms_key = random.RandomBytes(f"{name}-minio-kms-key", length=32, opts=child_options(self))
            kms_env = pulumi.Output.secret(kms_key.base64).apply(
                lambda encoded: f"export MINIO_KMS_SECRET_KEY={kms_key_name}:{encoded}\n"
            )
            found["minio"] = [
                self._secret("minio-root", "storage", values.MINIO_ROOT_SECRET,
                             {"rootUser": root_user, "rootPassword": pulumi.Output.secret(root_password.result)}),
                self._secret("minio-kms", "storage", values.MINIO_KMS_SECRET, {"config.env": kms_env}),
                self._secret("minio-ca", "storage", values.MINIO_CA_SECRET, {"ca.crt": ca_pem}),
            ]
            self._minio_root_password = root_password.result
            self._minio_root_user = root_user
        return found

    def _monitoring_ca(self, ca_pem: pulumi.Input[str]) -> k8s.core.v1.ConfigMap:
        """The stack's CA in `dp-monitoring`, for Prometheus to verify its Alertmanager with and for Prometheus's
        readers' front to verify Prometheus with (and readers to verify the front)."""
        return k8s.core.v1.ConfigMap(
            f"{self._name}-monitoring-ca",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=values.MONITORING_CA_CONFIG_MAP,
                                                namespace=self._namespace_of("monitoring")),
            data={values.MONITORING_CA_KEY: ca_pem},
            opts=self._child(),
        )

    def _prometheus_front(self) -> list[pulumi.Resource]:
        """Prometheus's readers (`kubernetes.prometheusReaders`): a generated password each, kept as a Pulumi secret
        and in a Secret of its own for the reader's owner; their bcrypt hashes, the front's only logins, in the Secret
        it reads; and its nginx configuration (components/runtime/prometheus_front.py)."""
        found: list[pulumi.Resource] = []
        lines: list[pulumi.Output[str]] = []
        for name in sorted(self._config.prometheus_readers):
            password = random.RandomPassword(f"{self._name}-prometheus-reader-{name}-password", length=40,
                                             special=False, opts=child_options(self))
            secret_password = pulumi.Output.secret(password.result)
            credentials: dict[str, pulumi.Input[str]] = {"username": name, "password": secret_password,
                                                         "url": prometheus_front.url()}
            found.append(self._secret(f"prometheus-reader-{name}", "monitoring",
                                      prometheus_front.reader_secret(name), credentials))
            self.prometheus_readers[name] = {**credentials, "caConfigMap": values.MONITORING_CA_CONFIG_MAP,
                                             "secret": prometheus_front.reader_secret(name)}
            lines.append(pulumi.Output.secret(password.bcrypt_hash).apply(
                lambda hashed, login=name: prometheus_front.htpasswd_line(login, hashed)))
        logins = pulumi.Output.all(*lines).apply(lambda each: "\n".join(each) + "\n")
        found.append(self._secret("prometheus-readers", "monitoring", prometheus_front.HTPASSWD_SECRET,
                                  {prometheus_front.HTPASSWD_KEY: pulumi.Output.secret(logins)}))
        found.append(k8s.core.v1.ConfigMap(
            f"{self._name}-prometheus-auth-proxy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=prometheus_front.CONFIG_MAP,
                                                namespace=self._namespace_of("monitoring")),
            data={prometheus_front.CONFIG_KEY: prometheus_front.nginx_conf()},
            opts=self._child(),
        ))
        return found

    def _alertmanager_config(self) -> k8s.core.v1.Secret:
        """The installed Alertmanager's configuration (receivers, routes, inhibitions), secret in the state: it
        holds the receivers' credentials."""
        text = pulumi.Output.secret(alerting.alertmanager_yaml(self._alerting))
        return self._secret("alertmanager-config", "monitoring", values.ALERTMANAGER_CONFIG_SECRET,
                            {values.ALERTMANAGER_CONFIG_KEY: text})

    def _credentials_after(self, release: str) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """MinIO's root credentials as Outputs of its release: whoever configures MinIO waits for it to run."""
        ready = self.releases[release].name
        user = ready.apply(lambda _: self._minio_root_user)
        password = pulumi.Output.all(ready, self._minio_root_password).apply(lambda both: both[1])
        return user, pulumi.Output.secret(password)

    def _endpoints(self) -> dict[str, str]:
        endpoints = {
            **{service.name: service.endpoint for service in self._hosted},
            "log-shipper": f"{service_host('fluent-bit', 'logs')}:{values.LOG_SHIPPER_AUDIT_PORT}",
            "prometheus": f"https://{service_host('prometheus-prometheus', 'monitoring')}:9090",
        }
        if self._config.alertmanager == "install":
            endpoints["alertmanager"] = f"https://{service_host('prometheus-alertmanager', 'monitoring')}:9093"
        if self._install_minio:
            endpoints["minio"] = f"{service_host('minio', 'storage')}:9000"
        return endpoints
