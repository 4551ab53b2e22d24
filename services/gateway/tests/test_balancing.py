"""Health verdicts and the order a request tries a service's instances in (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.balancing import Health, LeastOutstanding


def health(unhealthy: int = 2, healthy: int = 2) -> Health:
    """A fresh verdict with the given thresholds."""
    return Health(unhealthy_threshold=unhealthy, healthy_threshold=healthy)


@dataclass
class Member:
    name: str
    outstanding: int = 0
    health: Health = field(default_factory=health)


def names(members: list[Member]) -> list[str]:
    return [member.name for member in members]


def test_the_first_failure_of_an_unproven_instance_ejects_it_at_once() -> None:
    verdict = health()
    assert verdict.healthy and not verdict.known
    assert verdict.failed() is True
    assert not verdict.healthy


def test_a_proven_instance_is_ejected_only_after_failures_in_a_row() -> None:
    verdict = health(unhealthy=2)
    verdict.succeeded()
    assert verdict.failed() is False
    verdict.succeeded()  # the streak starts again
    assert verdict.failed() is False
    assert verdict.healthy
    assert verdict.failed() is True
    assert not verdict.healthy
    assert verdict.failed() is False  # ejected once, not again


def test_an_ejected_instance_comes_back_after_successes_in_a_row() -> None:
    verdict = health(unhealthy=1, healthy=3)
    verdict.failed()
    assert verdict.succeeded() is False
    assert verdict.succeeded() is False
    verdict.failed()  # the streak starts again
    assert [verdict.succeeded() for _ in range(3)] == [False, False, True]
    assert verdict.healthy


def test_idle_instances_take_turns() -> None:
    balancer = LeastOutstanding()
    members = [Member("a"), Member("b"), Member("c")]
    firsts = [balancer.order(members)[0].name for _ in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]


def test_the_instance_with_fewest_requests_in_flight_goes_first() -> None:
    balancer = LeastOutstanding()
    members = [Member("a", outstanding=3), Member("b", outstanding=1), Member("c", outstanding=2)]
    for _ in range(3):
        assert names(balancer.order(members)) == ["b", "c", "a"]


def test_ejected_instances_come_last_even_when_idle() -> None:
    balancer = LeastOutstanding()
    ejected = Member("a")
    ejected.health.failed()
    members = [ejected, Member("b", outstanding=5)]
    for _ in range(3):
        assert names(balancer.order(members)) == ["b", "a"]


def test_when_every_instance_is_ejected_all_are_still_tried() -> None:
    balancer = LeastOutstanding()
    members = [Member("a"), Member("b")]
    for member in members:
        member.health.failed()
    assert sorted(names(balancer.order(members))) == ["a", "b"]
    assert balancer.order([]) == []
