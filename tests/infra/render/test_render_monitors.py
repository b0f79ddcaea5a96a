"""The scrape check reads selectors as the Prometheus Operator does: by labels, in the namespaces a monitor names,
on the named port, and only for monitors a Prometheus selects."""

from __future__ import annotations

from infra.offline.render.monitors import StackObject, matches, scrape_problems


def service(name: str, namespace: str, labels: dict, ports: list[str]) -> StackObject:
    return StackObject("chart", {"apiVersion": "v1", "kind": "Service",
                                 "metadata": {"name": name, "namespace": namespace, "labels": labels},
                                 "spec": {"ports": [{"name": port, "port": 80} for port in ports]}})


def monitor(name: str, namespace: str, selector: dict, port: str, labels: dict | None = None,
            namespace_selector: dict | None = None) -> StackObject:
    spec = {"selector": selector, "endpoints": [{"port": port}]}
    if namespace_selector is not None:
        spec["namespaceSelector"] = namespace_selector
    return StackObject("program", {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                                   "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                                   "spec": spec})


def prometheus(selector: dict | None, namespace_selector: dict | None) -> StackObject:
    spec = {}
    if selector is not None:
        spec["serviceMonitorSelector"] = selector
    if namespace_selector is not None:
        spec["serviceMonitorNamespaceSelector"] = namespace_selector
    return StackObject("chart", {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
                                 "metadata": {"name": "p", "namespace": "mon"}, "spec": spec})


def ids(objects: list[StackObject]) -> list[str]:
    return [problem.key for problem in scrape_problems(objects, {"app": {"team": "a"}, "mon": {}})]


def test_selectors_read_like_kubernetes():
    assert matches({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not matches({"matchLabels": {"a": "1"}}, {"a": "2"})
    assert matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"})
    assert not matches({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {})
    assert matches({}, {"anything": "x"})


def test_a_monitor_on_a_named_port_of_a_selected_service_passes():
    objects = [service("api", "app", {"app": "api"}, ["metrics"]),
               monitor("api", "app", {"matchLabels": {"app": "api"}}, "metrics")]
    assert ids([*objects, prometheus({}, {})]) == []


def test_a_port_the_service_does_not_name_is_found():
    objects = [service("api", "app", {"app": "api"}, ["http"]),
               monitor("api", "app", {"matchLabels": {"app": "api"}}, "metrics")]
    assert ids(objects) == ["app/ServiceMonitor/api:port:metrics"]


def test_a_service_in_another_namespace_is_not_selected_unless_named():
    objects = [service("api", "other", {"app": "api"}, ["metrics"])]
    selector = {"matchLabels": {"app": "api"}}
    assert ids([*objects, monitor("api", "app", selector, "metrics")]) == ["app/ServiceMonitor/api:selects-nothing"]
    named = monitor("api", "app", selector, "metrics", namespace_selector={"matchNames": ["other"]})
    assert ids([*objects, named]) == []
    assert ids([*objects, monitor("api", "app", selector, "metrics", namespace_selector={"any": True})]) == []


def test_a_monitor_no_prometheus_selects_is_found():
    objects = [service("api", "app", {"app": "api"}, ["metrics"]),
               monitor("api", "app", {"matchLabels": {"app": "api"}}, "metrics", labels={"release": "other"})]
    # An unset namespace selector means the Prometheus's own namespace only; an unset monitor selector, none.
    assert ids([*objects, prometheus({}, None)]) == ["app/ServiceMonitor/api:not-picked-up"]
    assert ids([*objects, prometheus(None, {})]) == ["app/ServiceMonitor/api:not-picked-up"]
    other = prometheus({"matchLabels": {"release": "mine"}}, {})
    assert ids([*objects, other]) == ["app/ServiceMonitor/api:not-picked-up"]
    assert ids([*objects, prometheus({"matchLabels": {"release": "other"}}, {"matchLabels": {"team": "a"}})]) == []


def test_the_api_server_and_the_operators_kubelet_service_count_as_the_clusters():
    operator = StackObject("prometheus", {"apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": {"name": "op", "namespace": "mon"},
                                          "spec": {"template": {"spec": {"containers": [
                                              {"name": "op", "args": ["--kubelet-service=kube-system/kubelet"]}]}}}})
    kubelet = monitor("kubelet", "mon", {"matchLabels": {"k8s-app": "kubelet"}}, "https-metrics",
                      namespace_selector={"matchNames": ["kube-system"]})
    apiserver = monitor("apiserver", "mon", {"matchLabels": {"component": "apiserver"}}, "https",
                        namespace_selector={"matchNames": ["default"]})
    assert ids([operator, kubelet, apiserver]) == []
    assert ids([kubelet]) == ["mon/ServiceMonitor/kubelet:selects-nothing"]


def test_alerts_to_an_https_only_alertmanager_need_the_https_scheme():
    from infra.offline.render.monitors import alerting_problems

    manager = StackObject("chart", {"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
                                    "metadata": {"name": "am", "namespace": "mon"},
                                    "spec": {"web": {"tlsConfig": {"cert": {}}}}})

    def prometheus_sending(scheme: str | None) -> StackObject:
        endpoint = {"namespace": "mon", "name": "am", "port": "web", **({"scheme": scheme} if scheme else {})}
        return StackObject("chart", {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
                                     "metadata": {"name": "p", "namespace": "mon"},
                                     "spec": {"alerting": {"alertmanagers": [endpoint]}}})

    assert [p.key for p in alerting_problems([manager, prometheus_sending(None)])] == ["mon/p:mon/am:scheme"]
    assert alerting_problems([manager, prometheus_sending("https")]) == []


def test_two_services_of_the_same_pods_on_one_port_name_are_found():
    pods = {"app": "minio"}
    metrics = StackObject("chart", {"apiVersion": "v1", "kind": "Service",
                                    "metadata": {"name": "minio", "namespace": "s", "labels": {"app": "minio"}},
                                    "spec": {"selector": pods, "ports": [{"name": "https", "port": 9000}]}})
    console = StackObject("chart", {"apiVersion": "v1", "kind": "Service",
                                    "metadata": {"name": "console", "namespace": "s", "labels": {"app": "minio"}},
                                    "spec": {"selector": pods, "ports": [{"name": "https", "port": 9001}]}})
    broad = monitor("minio", "s", {"matchLabels": {"app": "minio"}}, "https")
    assert ids([metrics, console, broad]) == ["s/ServiceMonitor/minio:port:https:twice"]
    assert ids([metrics, broad]) == []


def pod_monitor(name: str, namespace: str, selector: dict, port: str) -> StackObject:
    return StackObject("program", {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                                   "metadata": {"name": name, "namespace": namespace},
                                   "spec": {"selector": selector, "podMetricsEndpoints": [{"port": port}]}})


def test_the_instances_cloudnative_pg_creates_for_a_cluster_can_be_scraped():
    cluster = StackObject("program", {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                                      "metadata": {"name": "metadata", "namespace": "app"}, "spec": {"instances": 1}})
    selector = {"matchLabels": {"cnpg.io/cluster": "metadata", "cnpg.io/podRole": "instance"}}
    everything = {"podMonitorSelector": {}, "podMonitorNamespaceSelector": {}}
    scraper = StackObject("chart", {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
                                    "metadata": {"name": "p", "namespace": "mon"}, "spec": everything})
    assert ids([cluster, pod_monitor("pg", "app", selector, "metrics"), scraper]) == []
    wrong_port = ids([cluster, pod_monitor("pg", "app", selector, "exporter"), scraper])
    assert wrong_port == ["app/PodMonitor/pg:port:exporter"]
    assert ids([pod_monitor("pg", "app", selector, "metrics"), scraper]) == ["app/PodMonitor/pg:selects-nothing"]
