"""The README's walk-through works as written, against a live server."""

import re
import subprocess

from servers import ROOT, embedded_server, free_port


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walk-through", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_readme_walkthrough_runs_against_the_server():
    port = free_port()
    script = walkthrough()
    assert "http://127.0.0.1:5000" in script
    with embedded_server(port):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script.replace(":5000", f":{port}")],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"username":"alice"' in out
    todo_url = re.search(rf"^(http://127.0.0.1:{port}/api/v1/todos/[0-9a-f]{{24}})$", out, re.M)
    assert todo_url, out
    assert '"name":"buy"' in out and '"has_next":false' in out
    assert '"done":true' in out
    assert out.rstrip().endswith("204\n204")
