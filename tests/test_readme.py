"""The README's walk-through works as written, against a live server."""

import ast
import re
import subprocess

from servers import ROOT, embedded_server, free_port


def readme_block(heading: str) -> str:
    """The first bash block after ``heading`` in the README."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(heading, 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def run_block(script: str, port: int) -> str:
    assert "http://127.0.0.1:5000" in script
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(":5000", f":{port}")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_walkthrough_runs_against_the_server():
    port = free_port()
    with embedded_server(port):
        out = run_block(readme_block("## Walk-through"), port)
    assert '"username":"alice"' in out
    todo_url = re.search(rf"^(http://127.0.0.1:{port}/api/v1/todos/[0-9a-f]{{24}})$", out, re.M)
    assert todo_url, out
    assert '"name":"buy"' in out and '"has_next":false' in out
    assert '"done":true' in out
    assert out.rstrip().endswith("204\n204")


def test_readme_paging_loop_visits_every_demo_todo():
    port = free_port()
    with embedded_server(port):
        out = run_block(readme_block("## Paging through the list"), port)
    pages = out.strip().splitlines()
    assert len(pages) == 3  # the five seeded demo todos, two a page
    items = [item for line in pages for item in ast.literal_eval(line)]
    assert len(items) == 5
    due = [d for d, _ in items]
    dated = [d for d in due if d is not None]
    assert due == dated + [None] * (5 - len(dated)), "undated todos come last"
    assert dated == sorted(dated)
