"""deploy/settings_reference.py and the configuration reference in docs/operations.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from .facts import DEPLOY, ROOT, Service


@pytest.fixture(scope="module")
def script() -> ModuleType:
    """deploy/settings_reference.py, imported from its path (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "settings_reference", DEPLOY / "settings_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_operations_doc_has_the_current_reference(script: ModuleType) -> None:
    doc = ROOT / "docs" / "operations.md"
    assert script.main(["--check", str(doc)]) == 0, (
        "run: uv run python deploy/settings_reference.py --write docs/operations.md"
    )


def test_reference_lists_every_setting_of_every_service(
    script: ModuleType, platform_services: dict[str, Service]
) -> None:
    text = script.reference()
    for service in platform_services.values():
        assert f"### {service.name} (port {service.port})" in text
        for name in service.settings_class.model_fields:
            assert f"| `{name.upper()}` |" in text, (service.name, name)


def test_reference_shows_defaults_as_written_in_the_environment(script: ModuleType) -> None:
    text = script.reference()
    assert "| `LOG_FORMAT` | one of `auto`, `console`, `json` | `auto` |" in text
    assert "a development secret (refused in production)" in text
    assert "SQLite file `<data_dir>/<service>.db`" in text
    assert '`{"POST /api/auth/token": "10/minute"' in text
    assert '| `RATE_LIMIT_FAIL_CLOSED` | JSON list | `["auth"]` |' in text


def test_check_fails_on_a_stale_block(script: ModuleType, tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Doc\n\n{script.START}\nold\n{script.END}\n")
    assert script.main(["--check", str(doc)]) == 1
    assert script.main(["--write", str(doc)]) == 0
    assert script.main(["--check", str(doc)]) == 0
    assert doc.read_text().startswith("# Doc\n\n")
