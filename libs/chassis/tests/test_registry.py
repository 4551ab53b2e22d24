"""Service discovery through the `bazaar.services` entry points."""

from __future__ import annotations

import pytest

from chassis.registry import ServiceSpec, discover
from chassis.settings import ServiceSettings


def test_discover_a_named_service() -> None:
    specs = discover(("catalog",))

    assert list(specs) == ["catalog"]
    spec = specs["catalog"]
    assert isinstance(spec, ServiceSpec)
    assert spec.kind in ("wsgi", "asgi")
    assert issubclass(spec.settings_class, ServiceSettings)
    assert spec.settings_class.service_name == "catalog"
    assert spec.migrations is not None and (spec.migrations / "env.py").is_file()


def test_discover_everything_in_start_order() -> None:
    specs = list(discover().values())

    assert "catalog" in {spec.name for spec in specs}
    assert [s.start_order for s in specs] == sorted(s.start_order for s in specs)


def test_unknown_names_are_listed_with_the_known_ones() -> None:
    with pytest.raises(LookupError, match=r"unknown service\(s\): nope, nada; know .*catalog"):
        discover(("nope", "catalog", "nada"))
