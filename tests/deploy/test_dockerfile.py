"""deploy/docker/Dockerfile and .dockerignore: layers, user, health check, build context."""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import dockerfiles
from .facts import CONTAINER_TMP, ROOT, Service

Parsed = tuple[list[dockerfiles.Instruction], list[dockerfiles.Stage]]


def stage(parsed: Parsed, name: str) -> dockerfiles.Stage:
    """The stage called `name`."""
    (found,) = [s for s in parsed[1] if s.name == name]
    return found


def workspace_members() -> list[str]:
    """Folders of the uv workspace's members, from the root pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = []
    for pattern in config["tool"]["uv"]["workspace"]["members"]:
        members += [
            p.parent.relative_to(ROOT).as_posix()
            for p in sorted(ROOT.glob(f"{pattern}/pyproject.toml"))
        ]
    return members


def test_is_multi_stage_with_a_slim_runtime_built_from_the_same_base(dockerfile: Parsed) -> None:
    names = [s.name for s in dockerfile[1]]
    assert names[-1] == "runtime"
    assert {"builder", "runtime"} <= set(names)
    assert stage(dockerfile, "builder").base == stage(dockerfile, "runtime").base == "base"
    assert "slim" in stage(dockerfile, "base").base


def test_service_is_a_build_argument_without_default(dockerfile: Parsed) -> None:
    for name in ("builder", "runtime"):
        assert [i.arguments for i in stage(dockerfile, name).all("ARG")] == ["SERVICE"]


def test_dependencies_install_from_the_lock_before_the_code_is_copied(dockerfile: Parsed) -> None:
    builder = stage(dockerfile, "builder")
    syncs = [i for i in builder.all("RUN") if "uv sync" in i.arguments]
    assert len(syncs) == 2
    assert all("--locked" in i.arguments and "--no-dev" in i.arguments for i in syncs)
    first, second = syncs
    assert "--no-install-workspace" in first.arguments
    assert "--no-install-workspace" not in second.arguments
    # Non-editable: the runtime copies the virtualenv only, never the source tree.
    assert "--no-editable" in second.arguments
    before = [i for i in builder.all("COPY") if i.line < first.line and not i.flags()]
    copied = {src for i in before for src in dockerfiles.copy_sources(i)}
    # Only manifests before the first sync, so code changes keep the dependency layer cached.
    assert all(
        src in ("uv.lock", "pyproject.toml") or src.endswith("/pyproject.toml") for src in copied
    )
    # uv checks the lock against every member: a member without its manifest breaks --locked.
    assert {f"{member}/pyproject.toml" for member in workspace_members()} <= copied
    after = [
        src
        for i in builder.all("COPY")
        if first.line < i.line < second.line
        for src in dockerfiles.copy_sources(i)
    ]
    assert after == ["libs/chassis/", "services/${SERVICE}/"]


def test_final_stage_has_no_build_tools(dockerfile: Parsed) -> None:
    runtime = stage(dockerfile, "runtime")
    text = " ".join(i.arguments for i in runtime.instructions)
    assert "uv" not in {word.rsplit("/", 1)[-1] for word in text.split()}
    for tool in ("apt-get install", "gcc", "build-essential", "curl"):
        assert tool not in text
    # Only build outputs come from other stages: the virtualenv and the built storefront.
    assert {i.flags().get("from") for i in runtime.all("COPY")} == {"builder", "web", None}
    assert "pip uninstall" in text  # the base image's installer goes too


def test_runs_as_a_numeric_non_root_user_matching_kubernetes(dockerfile: Parsed) -> None:
    (user,) = stage(dockerfile, "runtime").all("USER")
    uid, _, gid = user.arguments.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    # runAsUser in the manifests names the same account (checked in test_kubernetes).
    assert user.arguments == "10001:10001"


def test_writes_only_under_tmp_and_the_metrics_folder(runtime_env: dict[str, str]) -> None:
    assert runtime_env["HOME"] == CONTAINER_TMP
    assert runtime_env["BAZAAR_DATA_DIR"].startswith(CONTAINER_TMP + "/")
    assert runtime_env["PROMETHEUS_MULTIPROC_DIR"] == "/run/bazaar/metrics"
    assert runtime_env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert runtime_env["BAZAAR_HOST"] == "0.0.0.0"  # noqa: S104 - reachable from other containers


def test_event_contracts_are_copied_where_the_setting_points(
    dockerfile: Parsed, runtime_env: dict[str, str]
) -> None:
    copies = {
        tuple(i.arguments.split())
        for i in stage(dockerfile, "runtime").all("COPY")
        if not i.flags()
    }
    assert ("contracts/events/", runtime_env["BAZAAR_EVENT_CONTRACTS"] + "/") in copies
    assert sorted((ROOT / "contracts" / "events").glob("*.v*.json"))


def test_the_built_storefront_is_copied_where_the_gateway_looks(
    dockerfile: Parsed, runtime_env: dict[str, str]
) -> None:
    copies = {
        tuple(a for a in i.arguments.split() if not a.startswith("--"))
        for i in stage(dockerfile, "runtime").all("COPY")
        if i.flags().get("from") == "web"
    }
    assert copies == {("/web/dist/", runtime_env["BAZAAR_GATEWAY_WEB_DIR"] + "/")}
    web = stage(dockerfile, "web")
    builds = [i.arguments for i in web.all("RUN")]
    assert any("npm ci" in b for b in builds)
    assert builds[-1] == "npm run build"  # the bundle budget is checked in the build


def test_default_command_serves_the_service_without_migrating(dockerfile: Parsed) -> None:
    (cmd,) = stage(dockerfile, "runtime").all("CMD")
    words = cmd.exec_form()
    assert words is not None and words[:2] == ["/bin/sh", "-c"]
    # exec: the server, not a shell, receives SIGTERM.
    assert words[2] == 'exec bazaar serve "$BAZAAR_SERVICE" --no-migrate'


def test_build_records_each_services_default_port(
    dockerfile: Parsed,
    platform_services: dict[str, Service],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (record,) = [
        i for i in stage(dockerfile, "builder").all("RUN") if "default-port" in i.arguments
    ]
    code = record.arguments.split("'")[1]
    for service in platform_services.values():
        # In this process: a fresh interpreter per service would spend seconds on imports.
        monkeypatch.setattr(sys, "argv", ["-c", service.name])
        exec(code, {})  # noqa: S102 - our own Dockerfile's line
        assert capsys.readouterr().out.strip() == str(service.port)


class _Livez(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/livez" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def livez_server() -> Iterator[http.server.HTTPServer]:
    """A local server answering GET /livez with `_Livez.status`."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Livez)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    _Livez.status = 200


def run_healthcheck(dockerfile: Parsed, env: dict[str, str]) -> int:
    """Run the image's HEALTHCHECK command here, with this environment."""
    (check,) = stage(dockerfile, "runtime").all("HEALTHCHECK")
    words = check.exec_form()
    assert words is not None and words[:2] == ["python", "-c"]
    return subprocess.run([sys.executable, "-c", words[2]], env=env, capture_output=True).returncode


def test_healthcheck_passes_on_livez_200_and_fails_otherwise(
    dockerfile: Parsed, livez_server: http.server.HTTPServer
) -> None:
    port = str(livez_server.server_address[1])
    env = {"BAZAAR_SERVICE": "catalog", "BAZAAR_CATALOG_PORT": port}
    assert run_healthcheck(dockerfile, env) == 0
    assert run_healthcheck(dockerfile, {"BAZAAR_SERVICE": "catalog", "BAZAAR_PORT": port}) == 0
    _Livez.status = 503
    assert run_healthcheck(dockerfile, env) != 0
    livez_server.shutdown()
    livez_server.server_close()
    assert run_healthcheck(dockerfile, env) != 0


def test_healthcheck_needs_no_curl(dockerfile: Parsed) -> None:
    (check,) = stage(dockerfile, "runtime").all("HEALTHCHECK")
    assert "/livez" in check.arguments and "curl" not in check.arguments
    assert {"interval", "timeout", "start-period", "retries"} <= set(check.flags())


Patterns = list[tuple[bool, re.Pattern[str]]]


@pytest.fixture(scope="module")
def ignore() -> Patterns:
    """The .dockerignore patterns."""
    return dockerfiles.ignore_patterns(ROOT / ".dockerignore")


def test_dockerignore_sends_what_the_dockerfile_copies(
    dockerfile: Parsed, platform_services: dict[str, Service], ignore: Patterns
) -> None:
    sources = [
        source
        for s in dockerfile[1]
        for i in s.all("COPY")
        if not i.flags()
        for source in dockerfiles.copy_sources(i)
    ]
    for name in platform_services:
        for source in sources:
            path = ROOT / source.replace("${SERVICE}", name)
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            shipped = [
                f.relative_to(ROOT).as_posix()
                for f in files
                if "tests" not in f.parts and "__pycache__" not in f.parts
            ]
            assert shipped, source
            for file in shipped:
                assert not dockerfiles.ignored(file, ignore), file


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/config",
        "deploy/.env",
        "services/catalog/.env",
        "var/catalog.db",
        "services/catalog/tests/test_seed.py",
        "libs/chassis/tests/conftest.py",
        "libs/chassis/src/chassis/__pycache__/cli.cpython-311.pyc",
        "tests/system/conftest.py",
        "web/node_modules/react/index.js",
        "docs/operations.md",
    ],
)
def test_dockerignore_keeps_secrets_tests_and_local_state_out(path: str, ignore: Patterns) -> None:
    assert dockerfiles.ignored(path, ignore)


def test_dockerignore_matcher_follows_docker_rules(tmp_path: Path) -> None:
    rules = tmp_path / ".dockerignore"
    rules.write_text("*\n!src/\nsrc/**/secret.txt\n!src/keep/secret.txt\n")
    patterns = dockerfiles.ignore_patterns(rules)
    assert dockerfiles.ignored("README.md", patterns)
    assert not dockerfiles.ignored("src/a/b.py", patterns)
    assert dockerfiles.ignored("src/a/secret.txt", patterns)
    assert not dockerfiles.ignored("src/keep/secret.txt", patterns)
