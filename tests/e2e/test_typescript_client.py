"""A TypeScript client generated from the served document runs a whole session against the
real server, as tests/e2e/test_generated_client.py does for Python.

``@hey-api/openapi-ts`` and ``typescript`` (pinned in tools/ts, installed offline-ready by
.ci/run with ``npm ci``) generate the client into a temporary folder; ``tsc`` with ``strict``
type-checks tests/e2e/ts/session.ts against it (``noEmitOnError``: a type error fails the test
before anything runs) and compiles it to CommonJS; Node 20 runs it against gunicorn on
loopback. The session uses only generated SDK functions: no ``any``, no cast, no hand-written
request, no header set by hand but the conditional ones the operations declare."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "ts"
SESSION = Path(__file__).resolve().parent / "ts"
#: No telemetry, no update check, no colours: nothing leaves the machine.
ENV = {**os.environ, "NO_COLOR": "1", "DO_NOT_TRACK": "1", "NO_UPDATE_NOTIFIER": "1"}


def _tool(name: str) -> Path:
    path = TOOLS / "node_modules" / ".bin" / name
    if not path.exists():
        message = f"{name} is not installed: run 'npm ci' in tools/ts (.ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # CI must run it
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(command: list[str], cwd: Path, timeout: int = 180, env: dict | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env=env or ENV)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def compiled(server, tmp_path_factory):
    """The session compiled against a client generated from the served document."""
    generator, compiler = _tool("openapi-ts"), _tool("tsc")
    work = tmp_path_factory.mktemp("ts")
    document = work / "openapi.json"
    document.write_bytes(requests.get(f"{server}/api/v1/openapi.json", timeout=10).content)
    output = _run([str(generator), "-i", str(document), "-o", str(work / "client")], TOOLS)
    assert "warning" not in output.lower(), output  # e.g. an unsupported security scheme
    for name in ("session.ts", "tsconfig.json"):
        shutil.copy(SESSION / name, work / name)
    (work / "node_modules").symlink_to(TOOLS / "node_modules", target_is_directory=True)
    _run([str(compiler), "-p", str(work / "tsconfig.json")], work)
    return work / "dist" / "session.js"


def test_generated_typescript_client_runs_a_whole_session(server, compiled):
    output = _run(["node", str(compiled)], compiled.parent, timeout=120,
                  env={**ENV, "BASE_URL": server})
    assert "session: ok" in output


def test_the_session_uses_no_escape_hatch():
    source = (SESSION / "session.ts").read_text()
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
    for hatch in (": any", "<any>", " as ", "fetch(", "Authorization", "@ts-"):
        assert hatch not in code, hatch
