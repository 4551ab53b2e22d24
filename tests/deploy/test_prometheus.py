"""deploy/prometheus: promtool checks the configs and rules and runs the rules' unit tests;
every metric an alert reads is one the code defines."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from .facts import DEPLOY, Service
from .kustomize import pod_specs, render

PROMETHEUS = DEPLOY / "prometheus"
# Series Prometheus makes itself, not the services.
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset",
}  # fmt: skip


@pytest.fixture(scope="module")
def promtool() -> str:
    """promtool from Debian's `prometheus` package; CI must have it (.ci/run installs it)."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("promtool is missing: apt-get install prometheus")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """promtool with these arguments, from deploy/prometheus (rule files are relative)."""
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )


def rules() -> list[dict[str, Any]]:
    """Every alerting rule of alerts.yml."""
    loaded = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (our rules' subset of PromQL)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"\b[a-z_][a-z0-9_]*\s*\(", "(", text)  # function and aggregation names
    return {
        word
        for word in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text)
        if word not in PROMQL_WORDS
    }


def defined_series(platform_services: dict[str, Service]) -> set[str]:
    """Every series name the services' metric definitions produce.

    The modules loaded are those the API and the events worker run: each service's spec
    (its app factory's package), the chassis worker, and the modules of its handlers and
    periodic tasks.
    """
    importlib.import_module("chassis.events.worker")
    for service in platform_services.values():
        events = service.spec.events
        for factory in (events.handlers, events.tasks) if events else ():
            if factory is not None:
                importlib.import_module(factory.__module__)
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "gauge": ("",),
    }
    names = set()
    for family in REGISTRY.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def test_promtool_accepts_the_compose_config_and_its_rules(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_kubernetes_config(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus-kubernetes.yml")
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        # Debian builds Prometheus without Kubernetes discovery; the rules are the same file.
        pytest.skip("this promtool has no Kubernetes service discovery")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules_and_their_unit_tests_pass(promtool: str) -> None:
    checked = run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(promtool, "test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    suite = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    cases = [case for test in suite["tests"] for case in test["alert_rule_test"]]
    for rule in rules():
        name = rule["alert"]
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case["exp_alerts"] for case in mine), f"{name} is never seen firing"
        assert any(not case["exp_alerts"] for case in mine), f"{name} is never seen quiet"
        assert rule["annotations"]["runbook"] == "docs/operations.md#monitoring"


def test_every_metric_an_alert_reads_is_defined_in_the_code(
    platform_services: dict[str, Service],
) -> None:
    defined = defined_series(platform_services) | PROMETHEUS_OWN
    read = {name for rule in rules() for name in metric_names(rule["expr"])}
    assert read, "no metric names found in the rules"
    assert read <= defined, sorted(read - defined)


def test_each_alert_is_explained_in_the_operations_guide() -> None:
    guide = (DEPLOY.parent / "docs" / "operations.md").read_text()
    section = guide.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    for rule in rules():
        assert f"`{rule['alert']}`" in section, rule["alert"]


def test_the_kubernetes_config_scrapes_the_ports_the_pods_name() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus-kubernetes.yml").read_text())
    (job,) = config["scrape_configs"]
    (discovery,) = job["kubernetes_sd_configs"]
    keep = next(
        rule["regex"]
        for rule in job["relabel_configs"]
        if "__meta_kubernetes_pod_container_port_name" in rule["source_labels"]
    )
    namespaces = set()
    for overlay in ("dev", "prod"):
        resources = render(DEPLOY / "k8s" / "overlays" / overlay)
        for resource in resources:
            if resource["kind"] != "Deployment":
                continue
            namespaces.add(resource["metadata"]["namespace"])
            component = resource["spec"]["template"]["metadata"]["labels"][
                "app.kubernetes.io/component"
            ]
            (pod,) = pod_specs(resource)
            ports = [p["name"] for c in pod["containers"] for p in c.get("ports", [])]
            scraped = [p for p in ports if re.fullmatch(keep, f"{component};{p}")]
            assert len(scraped) == 1, (resource["metadata"]["name"], ports)
    assert set(discovery["namespaces"]["names"]) == namespaces
    assert config["rule_files"] == ["alerts.yml"]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (service) (rate(x_total{status=~"5.."}[5m])) / y > 0.05', {"x_total", "y"}),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ('up{job="bazaar"} == 0', {"up"}),
    ],
)
def test_metric_names_are_read_from_expressions(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_promtool_path_is_what_ci_installs() -> None:
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "apt-get install -y -qq prometheus" in ci
