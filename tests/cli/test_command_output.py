"""What every command a user types prints, run as they would run it (a subprocess): against
each failure a first hour meets, one line on stderr naming the problem and the fix, no
traceback, and the exit status (1 for a setting or the database, 2 for a wrong argument);
``--help`` as plain text; warnings as text in a terminal and JSON in a log; a progress bar in a
terminal only. (The commands' effects, run in process: test_operator_commands.py.)"""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.support.servers import ROOT, free_port

BIN = Path(sys.executable).parent
FLASK = [str(BIN / "flask"), "--app", "mongo_todos"]
SERVE = [sys.executable, "-m", "mongo_todos"]
SEED_SCRIPT = [sys.executable, "scripts/seed.py"]
KEYS = {"SECRET_KEY": "k" * 40, "JWT_SECRET_KEY": "j" * 40}


def run(args: list[str], env: dict | None = None, timeout: float = 60, **kwargs):
    """``args`` in the project directory, with a clean environment (plus ``env``). PORT is a
    free port: the server checks its port before its settings, and 5000 (the default) may be
    taken on the machine running the suite (a developer's own ./scripts/serve)."""
    clean = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
             "PORT": str(free_port()), **(env or {})}
    return subprocess.run(args, cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def one_line(result, status: int, *needles: str) -> str:
    """stderr is exactly one line holding every needle; the exit status is ``status``."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.returncode == status, (result.returncode, result.stderr)
    return lines[0]


def unreachable(timeout_ms: int | None = 500) -> str:
    """A MongoDB URI where nothing listens (a short server-selection timeout keeps tests fast)."""
    query = f"?serverSelectionTimeoutMS={timeout_ms}" if timeout_ms else ""
    return f"mongodb://127.0.0.1:{free_port()}/mongo_todos{query}"


# -- a bad setting ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    [*FLASK, "db", "init"],
    [*FLASK, "seed"],
    [*FLASK, "users", "create", "alice", "--password", "correct horse"],
    SEED_SCRIPT,
    SERVE,
], ids=["flask db init", "flask seed", "flask users create", "scripts/seed.py",
        "python -m mongo_todos"])
def test_missing_keys_with_mongodb_uri_is_one_line(command):
    result = run(command, env={"MONGODB_URI": unreachable()})
    line = one_line(result, 1, "invalid setting", "SECRET_KEY is required when MONGODB_URI is set",
                    "secrets.token_urlsafe")  # how to make one
    assert line.startswith("mongo_todos: ")
    assert result.stdout == ""


@pytest.mark.parametrize("command", [[*FLASK, "db", "init"], SEED_SCRIPT, SERVE],
                         ids=["flask db init", "scripts/seed.py", "python -m mongo_todos"])
def test_an_invalid_value_is_one_line_naming_the_variable(command):
    result = run(command, env={**KEYS, "LOG_LEVEL": "loud"})
    one_line(result, 1, "invalid setting", "LOG_LEVEL='LOUD'")


@pytest.mark.parametrize("command", [[*FLASK, "db", "init"], SEED_SCRIPT, SERVE],
                         ids=["flask db init", "scripts/seed.py", "python -m mongo_todos"])
def test_a_malformed_mongodb_uri_is_one_line(command):
    result = run(command, env={**KEYS, "MONGODB_URI": "mongodb://user:secret@db:port/x"})
    line = one_line(result, 1, "MONGODB_URI is not a valid MongoDB URI", "Port")
    assert "secret" not in line


# -- an unreachable MongoDB ------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    [*FLASK, "db", "init"],
    [*FLASK, "seed", "--users", "1", "--todos-per-user", "3"],
    [*FLASK, "users", "create", "alice", "--password", "correct horse"],
    [*SEED_SCRIPT, "--users", "1"],
], ids=["flask db init", "flask seed", "flask users create", "scripts/seed.py"])
def test_an_unreachable_server_is_one_line_after_the_timeout(command):
    uri = unreachable()
    result = run(command, env={**KEYS, "MONGODB_URI": uri})
    host = uri.split("/")[2]
    line = one_line(result, 1, f"cannot reach MongoDB at {host}", "MONGODB_URI")
    assert line.startswith("error: ")


def test_db_init_waits_for_the_default_timeout_then_says_one_line():
    """The container's first command: no URI option, the driver's default 3 s, then a line."""
    uri = unreachable(timeout_ms=None)
    result = run([*FLASK, "db", "init"], env={**KEYS, "MONGODB_URI": "mongodb://u:secret@"
                                                + uri.split("//")[1]})
    line = one_line(result, 1, "cannot reach MongoDB at 127.0.0.1:", "ServerSelectionTimeoutError")
    assert "secret" not in line  # the URI's password is not repeated


# -- a wrong argument ------------------------------------------------------------------------

@pytest.mark.parametrize("command, needle", [
    ([*FLASK, "seed", "--users", "0"], "Invalid value for '--users'"),
    ([*FLASK, "seed", "--todos-per-user", "lots"], "'--todos-per-user'"),
    ([*FLASK, "seed", "--reset", "extra"], "unexpected extra argument"),
    ([*FLASK, "users", "create"], "Missing argument 'USERNAME'"),
    ([*FLASK, "db", "init", "--force"], "No such option '--force'"),
    ([*SEED_SCRIPT, "--users", "x"], "Invalid value for '--users'"),
    ([*SERVE, "--port", "x"], "argument --port: 'x' is not a whole number"),
    ([*SERVE, "--port", "70000"], "70000 is not between 0 and 65535"),
    ([*SERVE, "--demo-todos", "-1"], "argument --demo-todos"),
    ([*SERVE, "--bogus"], "unrecognized arguments: --bogus"),
], ids=lambda v: " ".join(v[-3:]) if isinstance(v, list) else None)
def test_a_wrong_argument_is_one_line_pointing_to_the_help(command, needle):
    result = run(command)  # no keys: the start-up warnings must not come with a usage error
    one_line(result, 2, needle, "--help")


def test_a_bad_port_variable_is_one_line():
    one_line(run(SERVE, env={"PORT": "abc"}), 2, "'abc' is not a whole number")


# -- python -m mongo_todos (./scripts/serve): a busy port, a bad host ------------------------

def test_a_busy_port_is_one_line_before_anything_prints():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run([*SERVE, "--port", str(port)], timeout=30)
    one_line(result, 1, f"port {port} on 127.0.0.1 is already in use", "--port")
    assert result.stdout == ""  # no banner claiming the API is up


def test_an_unknown_host_is_one_line():
    result = run([*SERVE, "--host", "no-such-host.invalid", "--port", str(free_port())])
    one_line(result, 1, "no-such-host.invalid", "--host")


# -- the embedded store: a warning where data would vanish -----------------------------------

def test_users_create_on_the_embedded_store_warns_that_the_account_vanishes():
    result = run([*FLASK, "users", "create", "alice", "--password", "correct horse"], env=KEYS)
    assert result.returncode == 0, result.stderr
    assert "created user alice" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert "MONGODB_URI is not set" in warnings[0] and "gone when it exits" in warnings[0]
    assert "POST /api/v1/users" in warnings[0]  # the way to an account that stays
    assert "Traceback" not in result.stderr


# -- --help: the help, nothing else ----------------------------------------------------------

def flask_commands() -> list[list[str]]:
    """Every command and group path of the app's CLI, so commands added later are covered."""
    from mongo_todos import create_app
    from tests.conftest import TEST_ENV

    paths = []

    def walk(group: click.Group, prefix: list[str]):
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(create_app(env=TEST_ENV).cli, [])
    return paths


@pytest.mark.parametrize("command", [
    SERVE, SEED_SCRIPT, FLASK, *[[*FLASK, *path] for path in flask_commands()],
], ids=lambda c: " ".join(Path(c[0]).name if i == 0 else w for i, w in enumerate(c)))
def test_help_is_plain_text_without_warnings(command):
    result = run([*command, "--help"])  # no keys, no URI: the app warns when it starts
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.lower().startswith("usage:")
    assert "``" not in result.stdout  # no reST markup in a terminal
    assert not re.search(r"\*\w+\*", result.stdout)


def test_flask_without_a_command_has_no_warnings():
    result = run(FLASK)  # flask's own group answers this (its usage and "Missing command")
    assert result.returncode == 2 and "Missing command" in result.stderr
    assert "{" not in result.stderr and "Traceback" not in result.stderr  # no log line


# -- in a terminal, warnings read as text; elsewhere they stay JSON --------------------------

def run_in_terminal(args: list[str], env: dict) -> str:
    """``args`` with stderr on a pseudo-terminal; what it wrote there."""
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(args, cwd=ROOT, env={"PATH": f"{BIN}:/usr/bin:/bin", **env},
                                   stdout=subprocess.DEVNULL, stderr=secondary)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(primary)
    return b"".join(chunks).decode(errors="replace")


def test_warnings_are_text_in_a_terminal_and_json_in_a_log():
    terminal = run_in_terminal([*FLASK, "db", "init"], env={})
    assert re.search(r"WARNING +mongo_todos.settings: SECRET_KEY is not set", terminal), terminal
    assert '"level"' not in terminal
    logged = run([*FLASK, "db", "init"])
    assert logged.returncode == 0
    assert all(line.startswith("{") and '"level": "WARNING"' in line.replace('":"', '": "')
               for line in logged.stderr.strip().splitlines()), logged.stderr


def test_seed_shows_a_progress_bar_in_a_terminal_only():
    terminal = run_in_terminal([*SEED_SCRIPT, "--users", "1", "--todos-per-user", "2500"], env=KEYS)
    assert "2500/2500" in terminal or re.search(r"\d+/2500", terminal), terminal
    logged = run([*SEED_SCRIPT, "--users", "1", "--todos-per-user", "2500"], env=KEYS)
    assert "/2500" not in logged.stderr and "━" not in logged.stderr
    assert "todos: 2500 created, 0 already present" in logged.stdout


# -- config/.env.example, exported on a laptop -----------------------------------------------

def test_exporting_the_example_settings_keeps_the_embedded_defaults():
    result = run(["bash", "-c", "set -a; . config/.env.example; set +a; "
                                f"{BIN}/flask --app mongo_todos db init"])
    assert result.returncode == 0, result.stderr
    assert "indexes are in place" in result.stdout
    assert "MONGODB_URI is not set" in result.stderr  # the compose host names stayed out
