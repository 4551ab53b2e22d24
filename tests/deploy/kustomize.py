"""Render a kustomization as `kubectl kustomize` would, for the features our overlays use.

kustomize is not installed where the tests run, so this covers the subset in
`deploy/k8s` and refuses anything else: `resources` (files and folders), `namespace`,
`images`, `replicas`, and `patches` holding strategic merge patches, with or without a
`target` (kind, name, labelSelector). It is stricter than kustomize where that catches
typos: an `images` or `replicas` entry, or a patch, that matches nothing is an error.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_KEYS = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
)
CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "IngressClass"}
)
SCALABLE = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
# Lists a strategic merge patch merges item by item (Kubernetes' patchMergeKey); every
# other list is replaced whole, as Kubernetes does for lists without a merge key.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
# Merged by a key that depends on where the list is (containerPort, or a Service's port):
# not implemented, so refused rather than replaced.
UNSUPPORTED_LISTS = frozenset({"ports"})


class KustomizeError(Exception):
    """A kustomization uses something this renderer does not support, or matches nothing."""


def render(folder: Path) -> list[Resource]:
    """What `kubectl kustomize <folder>` prints (in file order; kustomize sorts by kind)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unsupported = set(spec) - SUPPORTED_KEYS
    if unsupported:
        raise KustomizeError(f"{folder}: unsupported kustomization keys {sorted(unsupported)}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        for resource in _load(folder / entry):
            if any(_id(resource) == _id(seen) for seen in resources):
                raise KustomizeError(f"{folder}: {_id(resource)} is defined twice")
            resources.append(resource)
    for patch in spec.get("patches", []):
        _apply_patch(folder, resources, patch)
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        _set_image(resources, image)
    for replicas in spec.get("replicas", []):
        _set_replicas(resources, replicas)
    return resources


def _load(path: Path) -> list[Resource]:
    if path.is_dir():
        return render(path)
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _id(resource: Resource) -> tuple[str, str, str]:
    meta = resource["metadata"]
    return resource["kind"], meta.get("namespace", ""), meta["name"]


def strategic_merge(target: Any, patch: Any) -> Any:
    """`patch` merged into `target`: maps key by key, keyed lists item by item, a null deletes."""
    if not (isinstance(target, dict) and isinstance(patch, dict)):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if key.startswith("$"):
            raise KustomizeError(f"patch directive {key} is not supported")
        if key in UNSUPPORTED_LISTS:
            raise KustomizeError(f"patching {key} is not supported")
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(merged.get(key), list):
            merged[key] = _merge_list(merged[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = strategic_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = copy.deepcopy(target)
    for item in patch:
        match = next((i for i, old in enumerate(merged) if old.get(key) == item.get(key)), None)
        if match is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[match] = strategic_merge(merged[match], item)
    return merged


def _apply_patch(folder: Path, resources: list[Resource], entry: dict[str, Any]) -> None:
    unsupported = set(entry) - {"path", "patch", "target"}
    if unsupported:
        raise KustomizeError(f"{folder}: unsupported patch options {sorted(unsupported)}")
    text = (folder / entry["path"]).read_text() if "path" in entry else entry["patch"]
    patch = yaml.safe_load(text)
    if not isinstance(patch, dict):
        raise KustomizeError(f"{folder}: only strategic merge patches are supported")
    if "target" in entry:
        targets = _select(resources, entry["target"])
        # With a target, the patch's own name is ignored: it applies to each match.
        body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
        extra_meta = {k: v for k, v in patch.get("metadata", {}).items() if k != "name"}
        if extra_meta:
            body["metadata"] = extra_meta
    else:
        targets = _select(resources, {"kind": patch["kind"], "name": patch["metadata"]["name"]})
        body = patch
    if not targets:
        raise KustomizeError(f"{folder}: patch {entry} matches no resource")
    for index in targets:
        resources[index] = strategic_merge(resources[index], body)


def _select(resources: list[Resource], target: dict[str, str]) -> list[int]:
    """Indexes of the resources a patch target names."""
    unsupported = set(target) - {"kind", "name", "labelSelector"}
    if unsupported:
        raise KustomizeError(f"unsupported patch target fields {sorted(unsupported)}")
    wanted = dict(pair.split("=", 1) for pair in target.get("labelSelector", "").split(",") if pair)
    return [
        index
        for index, resource in enumerate(resources)
        if target.get("kind", resource["kind"]) == resource["kind"]
        and target.get("name", resource["metadata"]["name"]) == resource["metadata"]["name"]
        and all(resource["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
    ]


def pod_specs(resource: Resource) -> list[dict[str, Any]]:
    """The pod specs a workload resource holds (none for other kinds)."""
    spec = resource.get("spec", {})
    if resource["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template = spec.get("template", {}).get("spec")
    return [template] if isinstance(template, dict) else []


def split_image(image: str) -> tuple[str, str | None]:
    """`registry/name:tag` -> (`registry/name`, `tag`); the tag is None when absent."""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag, or the colon belonged to a registry's port
        return image, None
    return name, tag


def _set_image(resources: list[Resource], entry: dict[str, str]) -> None:
    if set(entry) - {"name", "newName", "newTag"}:
        raise KustomizeError(f"unsupported images entry {entry}")
    found = False
    for resource in resources:
        for pod in pod_specs(resource):
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                name, tag = split_image(container["image"])
                if name == entry["name"]:
                    found = True
                    tag = entry.get("newTag", tag)
                    name = entry.get("newName", name)
                    container["image"] = f"{name}:{tag}" if tag else name
    if not found:
        raise KustomizeError(f"images entry {entry['name']} matches no container")


def _set_replicas(resources: list[Resource], entry: dict[str, Any]) -> None:
    matches = [
        r for r in resources if r["kind"] in SCALABLE and r["metadata"]["name"] == entry["name"]
    ]
    if not matches:
        raise KustomizeError(f"replicas entry {entry['name']} matches no workload")
    for resource in matches:
        resource["spec"]["replicas"] = entry["count"]
