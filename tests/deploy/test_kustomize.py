"""The kustomize subset the other tests render overlays with behaves as kustomize does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .kustomize import KustomizeError, render, split_image, strategic_merge

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "catalog", "labels": {"tier": "api"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "api",
                        "image": "bazaar/catalog:1.0",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    },
                    {"name": "sidecar", "image": "proxy:2"},
                ]
            }
        }
    },
}


def write(folder: Path, files: dict[str, Any]) -> Path:
    """Write YAML files (a list is a multi-document file) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        documents = content if isinstance(content, list) else [content]
        (folder / name).write_text(yaml.safe_dump_all(documents))
    return folder


def test_merge_keeps_siblings_and_merges_containers_and_env_by_name() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                            "resources": {"limits": {"memory": "2Gi"}},
                        }
                    ]
                }
            }
        }
    }
    merged = strategic_merge(DEPLOYMENT, patch)
    api, sidecar = merged["spec"]["template"]["spec"]["containers"]
    assert api["image"] == "bazaar/catalog:1.0" and sidecar == {
        "name": "sidecar",
        "image": "proxy:2",
    }
    assert api["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert api["resources"] == {"limits": {"cpu": "1", "memory": "2Gi"}}
    assert DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] == "2"


def test_merge_replaces_lists_without_a_merge_key_and_deletes_on_null() -> None:
    target = {"spec": {"tls": [{"hosts": ["a"]}], "rules": [{"host": "a"}, {"host": "b"}]}}
    merged = strategic_merge(target, {"spec": {"tls": None, "rules": [{"host": "c"}]}})
    assert merged == {"spec": {"rules": [{"host": "c"}]}}


def test_merge_refuses_what_it_does_not_implement() -> None:
    with pytest.raises(KustomizeError):
        strategic_merge(DEPLOYMENT, {"spec": {"$patch": "replace"}})
    with pytest.raises(KustomizeError):
        strategic_merge(DEPLOYMENT, {"spec": {"ports": [{"containerPort": 1}]}})


def test_overlay_applies_patches_namespace_images_and_replicas(tmp_path: Path) -> None:
    worker = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "catalog-worker", "labels": {"tier": "worker"}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "api", "image": "bazaar/catalog:1.0", "resources": {"a": "b"}}
                    ]
                }
            },
        },
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    write(tmp_path / "base", {"kustomization.yaml": {"resources": ["all.yaml"]}})
    write(tmp_path / "base", {"all.yaml": [DEPLOYMENT, worker]})
    limits = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ignored-with-a-target"},
        "spec": {"template": {"spec": {"containers": [{"name": "api", "resources": None}]}}},
    }
    overlay = write(
        tmp_path / "overlay",
        {
            "kustomization.yaml": {
                "namespace": "shop",
                "resources": ["ns.yaml", "../base"],
                "images": [
                    {"name": "bazaar/catalog", "newName": "reg.example:5000/catalog", "newTag": "2"}
                ],
                "replicas": [{"name": "catalog-worker", "count": 1}],
                "patches": [
                    {
                        "path": "limits.yaml",
                        "target": {"kind": "Deployment", "labelSelector": "tier=api"},
                    }
                ],
            },
            "ns.yaml": namespace,
            "limits.yaml": limits,
        },
    )
    ns, api, work = render(overlay)
    assert ns == namespace  # cluster-scoped: no namespace
    assert api["metadata"] == {"name": "catalog", "labels": {"tier": "api"}, "namespace": "shop"}
    (container, sidecar) = api["spec"]["template"]["spec"]["containers"]
    assert "resources" not in container and container["image"] == "reg.example:5000/catalog:2"
    assert sidecar["image"] == "proxy:2"
    assert work["spec"]["replicas"] == 1 and work["metadata"]["namespace"] == "shop"
    # The patch's target selects by label: the worker keeps its resources.
    assert work["spec"]["template"]["spec"]["containers"][0]["resources"] == {"a": "b"}


@pytest.mark.parametrize(
    "change",
    [
        {"images": [{"name": "bazaar/nothing", "newTag": "1"}]},
        {"replicas": [{"name": "nothing", "count": 1}]},
        {"patches": [{"path": "p.yaml", "target": {"kind": "Job"}}]},
        {"commonLabels": {"a": "b"}},
        {"configMapGenerator": [{"name": "x"}]},
        {"patches": [{"path": "p.yaml", "options": {"allowNameChange": True}}]},
    ],
)
def test_what_kustomize_would_ignore_or_we_do_not_support_is_an_error(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    write(
        tmp_path,
        {"all.yaml": DEPLOYMENT, "p.yaml": {"kind": "Deployment", "metadata": {"name": "catalog"}}},
    )
    write(tmp_path, {"kustomization.yaml": {"resources": ["all.yaml"], **change}})
    with pytest.raises(KustomizeError):
        render(tmp_path)


def test_a_resource_defined_twice_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": DEPLOYMENT, "b.yaml": DEPLOYMENT})
    write(tmp_path, {"kustomization.yaml": {"resources": ["a.yaml", "b.yaml"]}})
    with pytest.raises(KustomizeError):
        render(tmp_path)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("bazaar/catalog:1.0", ("bazaar/catalog", "1.0")),
        ("bazaar/catalog", ("bazaar/catalog", None)),
        ("reg.example:5000/bazaar/catalog", ("reg.example:5000/bazaar/catalog", None)),
        ("reg.example:5000/bazaar/catalog:dev", ("reg.example:5000/bazaar/catalog", "dev")),
    ],
)
def test_split_image(image: str, expected: tuple[str, str | None]) -> None:
    assert split_image(image) == expected
