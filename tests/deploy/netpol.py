"""Decide whether NetworkPolicies let one pod reach another, as the API documents it.

A connection passes when the source may send it (no policy isolates the source's egress,
or one of the policies that do has a matching egress rule) and the destination may receive
it (the same for ingress). Covers what our policies use: `podSelector` and
`namespaceSelector` with `matchLabels`, rules without peers (any destination), numeric
and named ports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Labels = dict[str, str]
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """A pod (or, with `pod` False, an address outside the cluster)."""

    namespace: str = ""
    labels: Labels = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # named container ports
    pod: bool = True


def selects(selector: dict[str, Any] | None, labels: Labels) -> bool:
    """Whether a label selector (matchLabels only) selects these labels."""
    if selector is None:
        return True
    if set(selector) - {"matchLabels"}:
        raise NotImplementedError(f"selector {selector}")
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], endpoint: Endpoint, policy_namespace: str) -> bool:
    if set(peer) - {"podSelector", "namespaceSelector"}:
        raise NotImplementedError(f"peer {peer}")
    if not endpoint.pod:
        return False  # pod and namespace selectors never match an outside address
    if "namespaceSelector" in peer:
        namespace_ok = selects(peer["namespaceSelector"], {NAMESPACE_LABEL: endpoint.namespace})
    else:
        namespace_ok = endpoint.namespace == policy_namespace
    return namespace_ok and selects(peer.get("podSelector"), endpoint.labels)


def _port_matches(rule: dict[str, Any], port: int, protocol: str, target: Endpoint) -> bool:
    if not rule.get("ports"):
        return True
    for allowed in rule["ports"]:
        number = allowed.get("port")
        if isinstance(number, str):
            number = target.ports.get(number)
        if allowed.get("protocol", "TCP") == protocol and number in (None, port):
            return True
    return False


def _side_allows(
    policies: list[dict[str, Any]],
    subject: Endpoint,
    peer: Endpoint,
    direction: str,
    port: int,
    protocol: str,
    target: Endpoint,
) -> bool:
    if not subject.pod:
        return True  # outside the cluster: no policy applies
    kind, key, peers = (
        ("Egress", "egress", "to") if direction == "egress" else ("Ingress", "ingress", "from")
    )
    isolating = [
        p
        for p in policies
        if p["metadata"].get("namespace", "") == subject.namespace
        and selects(p["spec"]["podSelector"], subject.labels)
        and kind in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not isolating:
        return True
    for policy in isolating:
        namespace = policy["metadata"].get("namespace", "")
        for rule in policy["spec"].get(key, []):
            peer_ok = not rule.get(peers) or any(
                _peer_matches(p, peer, namespace) for p in rule[peers]
            )
            if peer_ok and _port_matches(rule, port, protocol, target):
                return True
    return False


def allowed(
    policies: list[dict[str, Any]],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `source` may open a connection to `destination` on `port`."""
    return _side_allows(
        policies, source, destination, "egress", port, protocol, destination
    ) and _side_allows(policies, destination, source, "ingress", port, protocol, destination)
