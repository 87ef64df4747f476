"""Smoke run of the benchmark harness: it starts, seeds, drives every endpoint and writes its
report. No timing is asserted (these machines are shared and noisy); the numbers are for the
README's Performance section, from a full run."""

import json
import shutil
import subprocess
import sys

import pytest

from servers import ROOT


@pytest.mark.skipif(shutil.which("wrk") is None,
                    reason="wrk is not installed (.ci/run installs it with apt-get)")
def test_bench_harness_smoke_run(tmp_path):
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--duration", "1", "--todos", "20",
         "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    results = report["results"]
    assert set(results) == {"bare_flask_json", "get_todo", "list_20", "patch_if_match",
                            "create_todo"}
    for name, stats in results.items():
        assert stats["requests"] > 0, name
        assert stats["non_2xx"] == 0 and stats["socket_errors"] == 0, (name, stats)
        assert stats["p50_ms"] <= stats["p99_ms"]
        assert stats["ratio_to_ceiling"] == round(stats["rps"] / results["bare_flask_json"]["rps"], 3)
    assert report["settings"]["load_generator"] == "wrk"
    assert "ratio" in result.stdout and "get_todo" in result.stdout
