"""The README's walk-through works as written, against a live server, and so do the commands
and quotes of the docs pages that tests run."""

import ast
import re
import subprocess

from tests.support.servers import ROOT, embedded_server, free_port


def readme_block(heading: str, page: str = "README.md") -> str:
    """The first bash block after ``heading`` in the README (or another page, e.g. docs/x.md)."""
    readme = (ROOT / page).read_text()
    section = readme.split(heading, 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def section_prose(page: str, heading: str) -> str:
    """The text of one ``## heading`` section of a page, its whitespace folded."""
    section = (ROOT / page).read_text().split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    return " ".join(section.split())


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


def helper_definitions(block: str) -> str:
    """The walk-through's first lines: ``API=...`` and the ``json`` helper."""
    return block.split("\n\n", 1)[0]


def test_readme_helper_prints_a_failed_login_as_one_line():
    helpers = helper_definitions(readme_block("## Walk-through"))
    assert helpers.startswith("API=") and "json()" in helpers
    port = free_port()
    script = helpers + "\ncurl -s -X POST -u demo:wrong-password $API/tokens | json 'd[\"access_token\"]'\n"
    with embedded_server(port):
        failed = subprocess.run(["bash", "-o", "pipefail", "-c", script.replace(":5000", f":{port}")],
                                capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert failed.stdout == "" and "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines() == [failed.stderr.strip()]
    assert failed.stderr.startswith("error: 401 ")
    # and with no server at all
    down = subprocess.run(["bash", "-o", "pipefail", "-c",
                           script.replace(":5000", f":{free_port()}")],
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert down.stderr.strip() == "error: the answer is not JSON (is the server running?)"


def test_readme_seed_commands_run_as_printed():
    """docs/seeding.md's seed commands, word for word (the venv's own bin directory standing
    in for .venv/bin), on the embedded store: each says what it did."""
    import os
    import sys
    from pathlib import Path

    block = readme_block("## The seed command", "docs/seeding.md")
    assert "[" not in block  # nothing to fill in or leave out: it runs as printed
    commands = [line for line in block.strip().splitlines() if line]
    assert len(commands) == 3 and "--reset" in commands[1] and "scripts/seed.py" in commands[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "RATELIMIT_"))}
    outputs = []
    for command in commands:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c",
             command.replace(".venv/bin/", f"{Path(sys.executable).parent}/")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        outputs.append(result.stdout)
    for out in outputs:  # each run is a fresh embedded store: everything is new
        assert "todos: 1500 created, 0 already present" in out
        assert "accounts: 3 created, 0 already present" in out
        assert "username=demo3 password=demo-password" in out


def test_readme_performance_names_the_worker_class_bench_runs():
    """docs/benchmarks.md says which gunicorn worker the harness measures: the one
    config/gunicorn.conf.py picks for the embedded store (bench.py labels its report with it)."""
    import runpy

    bench = runpy.run_path(str(ROOT / "scripts" / "bench.py"), run_name="bench")
    prose = section_prose("docs/benchmarks.md", "## Running the benchmarks")
    worker = bench["worker_class"]()
    assert worker in ("gevent", "sync")
    other = {"gevent": "sync", "sync": "gevent"}[worker]
    assert f"one {worker} worker" in prose
    assert f"one {other} worker" not in prose


def test_readme_startup_warnings_of_a_command_look_as_described_in_a_terminal():
    """"Command line" (docs/api.md): in a terminal a command's start-up warnings are the
    readable log lines the page quotes; elsewhere they are JSON."""
    import json
    import os
    import pty
    import sys
    from pathlib import Path

    prose = section_prose("docs/api.md", "## Command line")
    quoted = re.search(r"in a terminal \(`([^`]*)`\)", prose).group(1)
    assert quoted.endswith(" ...")
    pattern = re.compile(r"\d\d:\d\d:\d\d" + re.escape(quoted[len("12:00:01"):-len(" ...")]))
    flask = str(Path(sys.executable).parent / "flask")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MONGODB_", "SECRET_KEY", "JWT_SECRET_KEY"))}
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen([flask, "--app", "mongo_todos", "users", "list"], cwd=ROOT,
                                   env=env, stdin=subprocess.DEVNULL, stdout=secondary,
                                   stderr=secondary)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(primary)
    terminal = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    assert any(pattern.match(line) for line in terminal), terminal
    piped = subprocess.run([flask, "--app", "mongo_todos", "users", "list"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0
    records = [json.loads(line) for line in piped.stderr.splitlines() if line.startswith("{")]
    assert any(r["logger"] == "mongo_todos.settings" and r["level"] == "WARNING"
               and r["message"].startswith("SECRET_KEY is not set") for r in records), piped.stderr


def test_readme_quick_start_stops_with_ctrl_c_without_a_traceback(tmp_path):
    """"Stop it with Ctrl-C": a terminal's Ctrl-C signals the whole process group, master and
    worker alike; the server stops at once, and says so without a traceback."""
    import os
    import signal
    import sys

    from tests.support.servers import wait_for_http

    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "RATELIMIT_"))}
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "mongo_todos", "--port", str(port)],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log.read_text(errors="replace")
    assert "Handling signal: int" in output and "Shutting down: Master" in output, output
    assert "Traceback" not in output and "SystemExit" not in output, output


def test_jobs_page_exports_polls_downloads_and_imports():
    port = free_port()
    with embedded_server(port):
        out = run_block(readme_block("## Export, poll, download", "docs/jobs.md"), port)
    lines = out.split()
    assert int(lines[0]) >= 1  # the demo account's open todos, one a line
    assert lines[1] == "202"
