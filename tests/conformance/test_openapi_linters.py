"""Two OpenAPI linters (Redocly CLI and Spectral, pinned in tools/lint/package.json and
installed by .ci/run with ``npm ci``) find no error and no warning in the served document.
Rules switched off are in tools/lint/redocly.yaml and tools/lint/.spectral.yaml, each with
its reason. Both run offline on a file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

LINT = Path(__file__).resolve().parents[2] / "tools" / "lint"
BIN = LINT / "node_modules" / ".bin"
#: No telemetry, no update check: nothing leaves the machine.
ENV = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
       "NO_COLOR": "1", "SCARF_ANALYTICS": "false", "DO_NOT_TRACK": "1"}


def _linter(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        message = f"{name} is not installed: run 'npm ci' in tools/lint (.ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # CI must lint
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def document(client, tmp_path):
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(client.get("/api/v1/openapi.json").get_json()))
    return path


def test_redocly_finds_no_error_or_warning(document):
    result = subprocess.run(
        [str(_linter("redocly")), "lint", str(document), "--config", str(LINT / "redocly.yaml"),
         "--format", "json"],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=LINT,
    )
    report = json.loads(result.stdout)
    problems = [(p["ruleId"], p["severity"], p["message"]) for p in report["problems"]]
    assert problems == [] and result.returncode == 0, problems or result.stderr[-2000:]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}


def test_spectral_finds_no_error_or_warning(document, tmp_path):
    report = tmp_path / "spectral.json"
    result = subprocess.run(
        [str(_linter("spectral")), "lint", str(document), "--ruleset",
         str(LINT / ".spectral.yaml"), "--format", "json", "--output", str(report),
         "--fail-severity", "hint"],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=LINT,
    )
    assert report.exists(), result.stdout + result.stderr
    findings = [(f["code"], f["severity"], f["message"], f["path"])
                for f in json.loads(report.read_text())]
    assert findings == [] and result.returncode == 0, findings or result.stderr[-2000:]
