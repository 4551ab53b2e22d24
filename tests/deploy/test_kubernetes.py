"""deploy/k8s: the base and both overlays, rendered, checked against the schemas and the code."""

from __future__ import annotations

import functools
import itertools
import re
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from chassis.settings import UnsafeConfiguration

from .facts import (
    CONTAINER_TMP,
    DEPLOY,
    FAKE_SECRET,
    ROOT,
    Service,
    missing_settings,
    settings_from,
)
from .kustomize import Resource, pod_specs, render, split_image
from .netpol import Endpoint, allowed

Rendering = tuple[str, list[Resource]]
# The oldest Kubernetes we support (docs/decisions/0008-deploy-layout.md) and the newest
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
# Stand-ins for the values an operator puts in each service's Secret.
SECRET_VALUES = {
    "secret-key": FAKE_SECRET,
    "database-url": "postgresql+psycopg://svc:pw@db.example.com:5432/svc",
    "redis-url": "redis://:pw@redis.example.com:6379/0",
    "broker-url": "amqp://svc:pw@mq.example.com:5672/",
}
CREDENTIALS = re.compile(r"SECRET|PASSWORD|_URL$")
# The public origin base and prod ship with (auth refuses it), and what an operator puts there.
PLACEHOLDER_ORIGIN = "https://bazaar.example.com"
SITE_ORIGIN = "https://shop.bazaar.test"
# Where an events worker serves /livez, /readyz and /metrics.
WORKER_HEALTH_PORT = 9100
# The OpenTelemetry Collector's OTLP receivers, by exporter protocol.
OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
COLLECTOR_HOST = "otel-collector.monitoring.svc.cluster.local"


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    """Resources of one kind, by name."""
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def containers(resource: Resource) -> list[dict[str, Any]]:
    """Every container of a workload."""
    return [c for pod in pod_specs(resource) for c in pod["containers"]]


def workloads(resources: list[Resource]) -> list[Resource]:
    """Deployments and Jobs."""
    return [r for r in resources if r["kind"] in ("Deployment", "Job")]


def identity(resource: Resource) -> tuple[str, str]:
    """(service, api|worker|migrate) from a workload's pod labels."""
    labels = resource["spec"]["template"]["metadata"]["labels"]
    return labels["app.kubernetes.io/name"], labels["app.kubernetes.io/component"]


def quantity(value: str | int) -> Decimal:
    """A Kubernetes quantity ("250m", "1", "512Mi") as a number."""
    text = str(value)
    units = {
        "m": Decimal("0.001"),
        "Ki": Decimal(2**10),
        "Mi": Decimal(2**20),
        "Gi": Decimal(2**30),
    }
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return Decimal(text.removesuffix(suffix)) * factor
    return Decimal(text)


def environment(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    """The variables a container starts with (ConfigMaps, values, Secrets' stand-ins)."""
    maps = of_kind(resources, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            env[entry["name"]] = SECRET_VALUES[entry["valueFrom"]["secretKeyRef"]["key"]]
    return env


@pytest.fixture(scope="module", autouse=True)
def schemas_read_once() -> Iterator[None]:
    """kubernetes-validate reads ~1 MB of JSON per call; reading each file once saves ~90%."""
    with pytest.MonkeyPatch.context() as patch:
        cached = functools.cache(kubernetes_validate.utils.schema_contents)
        patch.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield


def test_every_resource_validates_against_the_kubernetes_schemas(rendering: Rendering) -> None:
    _, resources = rendering
    for resource, version in itertools.product(resources, KUBERNETES_VERSIONS):
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']} {where}: {error}")


def test_each_service_has_a_deployment_service_autoscaler_and_disruption_budget(
    rendering: Rendering, platform_services: dict[str, Service]
) -> None:
    _, resources = rendering
    deployments = of_kind(resources, "Deployment")
    for name in platform_services:
        deployment = deployments[name]
        assert identity(deployment) == (name, "api")
        assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        assert of_kind(resources, "Service")[name]["spec"]["selector"].items() <= pods.items()
        hpa = of_kind(resources, "HorizontalPodAutoscaler")[name]
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        pdb = of_kind(resources, "PodDisruptionBudget")[name]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pods.items()
        assert pdb["spec"]["maxUnavailable"] == 1


def test_workers_and_migrations_exist_where_the_service_has_them(
    rendering: Rendering, platform_services: dict[str, Service]
) -> None:
    _, resources = rendering
    deployments, jobs = of_kind(resources, "Deployment"), of_kind(resources, "Job")
    worker_names = {n for n, d in deployments.items() if identity(d)[1] == "worker"}
    assert worker_names == {f"{s.name}-worker" for s in platform_services.values() if s.has_events}
    assert set(jobs) == {f"{s.name}-migrate" for s in platform_services.values() if s.has_database}
    for name in worker_names:
        service = name.removesuffix("-worker")
        (worker,) = containers(deployments[name])
        assert worker["command"] == ["bazaar", "events", "worker", service]
        assert deployments[name]["spec"]["replicas"] >= 1
        # Its health port serves the probes and /metrics; no Service routes to it.
        assert worker["ports"] == [{"name": "health", "containerPort": WORKER_HEALTH_PORT}]
        assert {"name": "BAZAAR_WORKER_METRICS_PORT", "value": str(WORKER_HEALTH_PORT)} in (
            worker["env"]
        )
        for probe, path in (
            ("startupProbe", "/livez"),
            ("livenessProbe", "/livez"),
            ("readinessProbe", "/readyz"),
        ):
            assert worker[probe]["httpGet"] == {"path": path, "port": "health"}, (name, probe)
    for name, job in jobs.items():
        (migrate,) = containers(job)
        assert migrate["command"] == ["bazaar", "migrate", name.removesuffix("-migrate")]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    for svc in of_kind(resources, "Service").values():
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_services_serve_on_their_default_port_with_probes(
    rendering: Rendering, platform_services: dict[str, Service]
) -> None:
    _, resources = rendering
    for name, service in platform_services.items():
        (api,) = containers(of_kind(resources, "Deployment")[name])
        assert api["command"] == ["bazaar", "serve", name, "--no-migrate"]
        assert api["ports"] == [{"name": "http", "containerPort": service.port}]
        for probe, path in (
            ("startupProbe", "/livez"),
            ("livenessProbe", "/livez"),
            ("readinessProbe", "/readyz"),
        ):
            assert api[probe]["httpGet"] == {"path": path, "port": "http"}, (name, probe)
        (port,) = of_kind(resources, "Service")[name]["spec"]["ports"]
        assert port == {"name": "http", "port": service.port, "targetPort": "http"}


def test_every_container_has_requests_below_its_limits(rendering: Rendering) -> None:
    _, resources = rendering
    for workload in workloads(resources):
        for container in containers(workload):
            resources_ = container["resources"]
            for kind in ("cpu", "memory"):
                request = quantity(resources_["requests"][kind])
                limit = quantity(resources_["limits"][kind])
                assert 0 < request <= limit, (workload["metadata"]["name"], kind)


def test_pods_run_non_root_read_only_without_capabilities(
    rendering: Rendering, runtime_env: dict[str, str]
) -> None:
    _, resources = rendering
    writable = {CONTAINER_TMP, runtime_env["PROMETHEUS_MULTIPROC_DIR"]}
    for workload in workloads(resources):
        name = workload["metadata"]["name"]
        (pod,) = pod_specs(workload)
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 10001,  # the image's USER (test_dockerfile)
            "runAsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert all(set(v) == {"name", "emptyDir"} for v in volumes.values()), name
        for container in containers(workload):
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert writable <= set(mounts), name
            assert (
                volumes[mounts[runtime_env["PROMETHEUS_MULTIPROC_DIR"]]]["emptyDir"]["medium"]
                == "Memory"
            )


def test_images_are_the_service_images_compose_builds(
    rendering: Rendering, compose: dict[str, Any]
) -> None:
    name, resources = rendering
    tags = set()
    for workload in workloads(resources):
        service, _ = identity(workload)
        for container in containers(workload):
            repository, tag = split_image(container["image"])
            assert repository.endswith(f"bazaar/{service}"), container["image"]
            # Compose's image is `bazaar/<service>:${BAZAAR_TAG:-dev}`.
            compose_repository = compose["services"][service]["image"].partition(":")[0]
            if name != "overlays/prod":
                assert repository == compose_repository
            tags.add(tag)
    (tag,) = tags  # one release of every service at a time
    assert tag and tag != "latest"


def test_secrets_are_referenced_never_committed(rendering: Rendering) -> None:
    _, resources = rendering
    assert not of_kind(resources, "Secret")
    for config in of_kind(resources, "ConfigMap").values():
        for key, value in config["data"].items():
            assert not re.search(r"://[^/@\s]+:[^/@\s]*@", value), key  # no user:password@
            assert "SECRET" not in key and "PASSWORD" not in key
    for workload in workloads(resources):
        service, _ = identity(workload)
        for container in containers(workload):
            for entry in container.get("env", []):
                if CREDENTIALS.search(entry["name"]):
                    ref = entry["valueFrom"]["secretKeyRef"]
                    # Each service reads its own Secret only.
                    assert ref["name"] == f"bazaar-{service}", entry
                    assert ref["key"] in SECRET_VALUES


def test_secrets_the_manifests_need_are_documented(rendering: Rendering) -> None:
    _, resources = rendering
    operations = (ROOT / "docs" / "operations.md").read_text()
    for workload in workloads(resources):
        for container in containers(workload):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    # Within that one `kubectl create secret` command.
                    command = rf"create secret generic {ref['name']} (?:(?!create secret)[^`])*"
                    assert re.search(rf"{command}--from-literal={ref['key']}=", operations), ref


def test_every_container_gets_the_settings_production_requires(
    rendering: Rendering, platform_services: dict[str, Service]
) -> None:
    _, resources = rendering
    for workload in workloads(resources):
        name, _ = identity(workload)
        service = platform_services[name]
        for container in containers(workload):
            env = as_the_operator_sets_it(environment(resources, container))
            assert not missing_settings(service, env), workload["metadata"]["name"]
            settings = settings_from(service, env)
            assert settings.env == "production"
            for callee, field in service.calls().items():
                value = getattr(settings, field)
                urls = value[callee] if isinstance(value, dict) else value
                urls = [urls] if isinstance(urls, str) else list(urls)
                assert urls == [f"http://{callee}:{platform_services[callee].port}"]
            for provider in platform_services.values():
                if provider.spec.platform_env is not None:
                    hand_out = provider.spec.platform_env(
                        provider.settings_class(host=provider.name)
                    )
                    assert {k: env[k] for k in hand_out} == hand_out


def as_the_operator_sets_it(env: dict[str, str]) -> dict[str, str]:
    """`env` with the placeholder public origin replaced by a site's, as an operator does."""
    if env.get("BAZAAR_AUTH_PUBLIC_ORIGIN") == PLACEHOLDER_ORIGIN:
        return {**env, "BAZAAR_AUTH_PUBLIC_ORIGIN": SITE_ORIGIN}
    return env


def test_auth_gets_the_public_origin_of_the_ingress_and_refuses_the_placeholder(
    rendering: Rendering, platform_services: dict[str, Service]
) -> None:
    name, resources = rendering
    (ingress,) = of_kind(resources, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    scheme = "https" if ingress["spec"].get("tls") else "http"
    auth = [w for w in workloads(resources) if identity(w)[0] == "auth"]
    assert {identity(w)[1] for w in auth} == {"api", "migrate"}
    for container in (c for workload in auth for c in containers(workload)):
        env = environment(resources, container)
        # Where browsers reach the gateway: the Ingress's host, https when it has TLS.
        assert env["BAZAAR_AUTH_PUBLIC_ORIGIN"] == f"{scheme}://{rule['host']}", name
        if name == "overlays/dev":
            settings = settings_from(platform_services["auth"], env)
            assert settings.issuer_url == "http://bazaar.localtest.me/api/auth"  # type: ignore[attr-defined]
            continue
        # base and prod ship the Ingress's example host: auth must not start with it.
        assert env["BAZAAR_AUTH_PUBLIC_ORIGIN"] == PLACEHOLDER_ORIGIN
        with pytest.raises(
            UnsafeConfiguration, match=re.escape("placeholder " + PLACEHOLDER_ORIGIN)
        ):
            settings_from(platform_services["auth"], env)


def test_the_ingress_reaches_the_gateway(rendering: Rendering) -> None:
    _, resources = rendering
    (ingress,) = of_kind(resources, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    # Behind the ingress, the client is taken from X-Forwarded-For, trusting proxies on
    # private addresses only: "*" would let any client pick its own rate-limit bucket.
    (gateway,) = containers(of_kind(resources, "Deployment")["gateway"])
    trusted = {e["name"]: e.get("value") for e in gateway["env"]}["FORWARDED_ALLOW_IPS"]
    assert trusted and "*" not in trusted


def pods(resources: list[Resource], namespace: str) -> dict[tuple[str, str], Endpoint]:
    """Each workload's pods as a network endpoint, by (service, role)."""
    found = {}
    for workload in workloads(resources):
        ports = {
            p["name"]: p["containerPort"] for c in containers(workload) for p in c.get("ports", [])
        }
        labels = workload["spec"]["template"]["metadata"]["labels"]
        found[identity(workload)] = Endpoint(namespace, labels, ports)
    return found


def test_network_policies_allow_the_needed_flows_and_nothing_else(
    rendering: Rendering, platform_services: dict[str, Service]
) -> None:
    _, resources = rendering
    policies = list(of_kind(resources, "NetworkPolicy").values())
    namespace = policies[0]["metadata"].get("namespace", "")
    endpoints = pods(resources, namespace)
    apis = {name: endpoints[(name, "api")] for name in platform_services}
    needed = {(caller, callee) for caller, s in platform_services.items() for callee in s.calls()}
    jwks = {p.name for p in platform_services.values() if p.spec.platform_env is not None}
    needed |= {(caller, provider) for caller in platform_services for provider in jwks}
    needed -= {(name, name) for name in platform_services}
    for caller, callee in itertools.permutations(platform_services, 2):
        port = platform_services[callee].port
        verdict = allowed(policies, apis[caller], apis[callee], port)
        assert verdict == ((caller, callee) in needed), (caller, callee)
    # Workers and migrations call no service.
    for (name, role), pod in endpoints.items():
        if role != "api":
            for callee, api in apis.items():
                assert not allowed(policies, pod, api, platform_services[callee].port), (name, role)
    # From outside: the ingress controller to the gateway only; Prometheus to /metrics.
    controller = Endpoint("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    prometheus = Endpoint("monitoring", {"app.kubernetes.io/name": "prometheus"})
    stranger = Endpoint("default", {"app": "curl"})
    for name, api in apis.items():
        port = platform_services[name].port
        assert allowed(policies, controller, api, port) == (name == "gateway"), name
        assert allowed(policies, prometheus, api, port), name
        assert not allowed(policies, stranger, api, port), name
    for (name, role), pod in endpoints.items():
        if role == "worker":
            assert allowed(policies, prometheus, pod, WORKER_HEALTH_PORT), name
            assert not allowed(policies, stranger, pod, WORKER_HEALTH_PORT), name
    # Every pod: DNS, and the datastores outside the cluster.
    dns = Endpoint("kube-system", {"k8s-app": "kube-dns"})
    outside = Endpoint(pod=False)
    for pod in endpoints.values():
        assert allowed(policies, pod, dns, 53, "UDP")
        for port in (5432, 6379, 5672):
            assert allowed(policies, pod, outside, port)
        assert not allowed(policies, pod, outside, 443)
        assert not allowed(policies, pod, stranger, 8080)
    # Every pod: spans to the OpenTelemetry Collector, and only to it.
    collector = Endpoint("monitoring", {"app.kubernetes.io/name": "opentelemetry-collector"})
    for pod in endpoints.values():
        for port in OTLP_PORTS.values():
            assert allowed(policies, pod, collector, port)
            assert not allowed(policies, pod, prometheus, port)
            assert not allowed(policies, pod, outside, port)


def test_overlays_set_a_restricted_namespace(rendering: Rendering) -> None:
    name, resources = rendering
    if name == "base":
        assert not of_kind(resources, "Namespace")
        return
    (namespace,) = of_kind(resources, "Namespace").values()
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for resource in resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace["metadata"]["name"]


def test_dev_is_small_and_prod_is_replicated(platform_services: dict[str, Service]) -> None:
    dev = render(DEPLOY / "k8s" / "overlays" / "dev")
    prod = render(DEPLOY / "k8s" / "overlays" / "prod")
    for hpa in of_kind(dev, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] == 1
    for hpa in of_kind(prod, "HorizontalPodAutoscaler").values():
        # With maxUnavailable 1, a drain or a node loss still leaves two serving.
        assert hpa["spec"]["minReplicas"] >= 3
    for name, deployment in of_kind(dev, "Deployment").items():
        if name.endswith("-worker"):
            assert deployment["spec"]["replicas"] == 1
            assert of_kind(prod, "Deployment")[name]["spec"]["replicas"] >= 2
    for workload in workloads(prod):
        for container in containers(workload):
            repository, tag = split_image(container["image"])
            assert repository.startswith("registry.example.com/") and tag == "0.1.0"
    for workload in workloads(dev):
        for container in containers(workload):
            assert split_image(container["image"])[1] == "dev"
    assert len(platform_services) == len(of_kind(dev, "HorizontalPodAutoscaler"))


def test_overlays_send_every_containers_traces_to_the_collector(rendering: Rendering) -> None:
    name, resources = rendering
    for workload in workloads(resources):
        for container in containers(workload):
            env = environment(resources, container)
            label = (workload["metadata"]["name"], container["name"])
            if name == "base":
                # The base has no collector to send to.
                assert env["BAZAAR_OTEL_ENABLED"] == "false", label
                assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env, label
                continue
            assert env["BAZAAR_OTEL_ENABLED"] == "true", label
            protocol = env["OTEL_EXPORTER_OTLP_PROTOCOL"]
            endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
            assert endpoint.scheme == "http" and endpoint.hostname == COLLECTOR_HOST, label
            assert endpoint.port == OTLP_PORTS[protocol], label
            # The service name is each service's own (the chassis sets it), never shared.
            assert "OTEL_SERVICE_NAME" not in env, label
            stage = name.removeprefix("overlays/")
            assert env["OTEL_RESOURCE_ATTRIBUTES"] == f"deployment.environment.name={stage}"
            ratio = float(env["BAZAAR_OTEL_SAMPLE_RATIO"])
            # Development keeps every trace; production a sample, never none.
            assert ratio == 1.0 if stage == "dev" else 0 < ratio < 1, label


def assert_deployments_are_probed_limited_and_locked_down(resources: list[Resource]) -> None:
    """Every Deployment, workers included: probes, limits, non-root, read-only root."""
    deployments = of_kind(resources, "Deployment")
    assert {identity(d)[1] for d in deployments.values()} == {"api", "worker"}
    for name, deployment in deployments.items():
        (pod,) = pod_specs(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["path"], (name, probe)
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_every_deployment_has_probes_limits_non_root_and_a_read_only_root(
    rendering: Rendering,
) -> None:
    _, resources = rendering
    assert_deployments_are_probed_limited_and_locked_down(resources)


def test_kubectl_kustomize_of_prod_has_probes_limits_non_root_and_a_read_only_root() -> None:
    """The acceptance check itself, with the real kustomize where kubectl is installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the offline renderer covers the same check")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / "prod")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    resources = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert_deployments_are_probed_limited_and_locked_down(resources)
    offline = render(DEPLOY / "k8s" / "overlays" / "prod")
    assert sorted(of_kind(resources, "Deployment")) == sorted(of_kind(offline, "Deployment"))
