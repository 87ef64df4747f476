"""What a person at a terminal gets from the command line: one clear line per failure.

Every Flask CLI command (``flask --app mongo_todos ...``) and ``scripts/seed.py`` answers a bad
setting, an unreachable or refusing MongoDB, or a wrong argument with one line on stderr naming
the problem (and the fix where there is one) and a non-zero exit, never a traceback:

- :func:`app_for_flask_cli` builds the app for ``flask --app mongo_todos`` (the package's
  ``app`` attribute points here), :func:`app_for_script` for ``scripts/seed.py``: an invalid
  setting stops it with one line, ``--help`` and usage errors come without the start-up
  warnings (held back until a command runs).
- :class:`Group` and :class:`Command` are the click classes of every command in ``commands.py``:
  a command added to the ``users`` or ``db`` group, or declared with ``cls=Command``, gets the
  same error handling without code of its own.

An error nobody foresaw (a bug) still shows its traceback: hiding it would not help anyone.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import AppGroup
from pymongo.errors import (
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)

from mongo_todos.settings import ConfigError

#: Exit status of a command stopped by a bad setting or an unusable database.
FAILURE = 1


class _Held(logging.Handler):
    """Keeps the records logged while the app is built, to show them only if a command runs."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_HELD = "mongo_todos_cli_held_records"


def _command_of(app, argv: list[str]) -> click.Command | None:
    """The command ``flask ARGV`` will run, or None for the help or a usage error."""
    if "--help" in argv:
        return None
    skip = {value for option, value in zip(argv, argv[1:], strict=False)
            if option in ("--app", "-A", "--env-file", "-e")}
    words = [a for a in argv if not a.startswith("-") and a not in skip]
    ctx = click.get_current_context(silent=True)
    builtins = ctx.find_root().command.commands if ctx is not None else {}
    group: click.Group = app.cli
    for depth, word in enumerate(words):
        command = group.commands.get(word) or (builtins.get(word) if depth == 0 else None)
        if not isinstance(command, click.Group):
            return command
        group = command
    return None  # no command, or a group without its subcommand: click prints the help


def _replay(records: list[logging.LogRecord]) -> None:
    for record in records:
        logging.getLogger(record.name).handle(record)


def _build_app_holding_warnings():
    """create_app(), with its start-up warnings held back; an invalid setting is one line."""
    # upward import, so lazy: the package __init__ (create_app) registers the commands that
    # import this module, and reaches this function through its own lazy ``app`` attribute
    from mongo_todos import create_app

    # (logs.configure(), called by create_app, writes JSON for machines and text in a terminal)
    # the start-up warnings (random keys, embedded store) are about running something: held
    # back until a command runs, so --help and usage errors stay free of them
    package = logging.getLogger("mongo_todos")
    held = _Held()
    package.addHandler(held)
    package.propagate = False
    try:
        app = create_app()
    except ConfigError as err:
        raise SystemExit(f"mongo_todos: invalid setting: {err}") from None
    except PyMongoError as err:  # a mongodb+srv:// name that does not resolve
        raise SystemExit(f"mongo_todos: {describe_database_error(err, _uri())}") from None
    finally:
        package.removeHandler(held)
        package.propagate = True
    return app, held.records


def app_for_flask_cli():
    """The app as ``flask --app mongo_todos`` loads it, for people at a terminal."""
    app, records = _build_app_holding_warnings()
    command = _command_of(app, sys.argv[1:])
    if isinstance(command, Command):
        # shown when it starts running, after its arguments parsed without a usage error
        app.extensions[_HELD] = records
    elif command is not None:  # flask's own commands (run, shell, routes)
        _replay(records)
    return app


def app_for_script():
    """The app of a script that runs one :class:`Command` (``scripts/seed.py``)."""
    app, records = _build_app_holding_warnings()
    app.extensions[_HELD] = records
    return app


def _uri() -> str | None:
    return os.environ.get("MONGODB_URI")


def _where(uri: str | None) -> str:
    """The hosts of a MongoDB URI, without its credentials."""
    if not uri:
        return "the embedded store"
    return urlsplit(uri).netloc.rpartition("@")[2] or uri


def describe_database_error(err: PyMongoError, uri: str | None) -> str:
    """One line naming what went wrong with MongoDB and what to check."""
    where = _where(uri)
    if isinstance(err, ConnectionFailure):  # ServerSelectionTimeoutError is one
        return (f"cannot reach MongoDB at {where} ({err.__class__.__name__}): is the server "
                "running, and does MONGODB_URI name it?")
    if isinstance(err, OperationFailure):
        message = (err.details or {}).get("errmsg") or str(err).splitlines()[0]
        if err.code in (13, 18):  # Unauthorized, AuthenticationFailed
            return f"MongoDB at {where} refused the credentials: {message} (check MONGODB_URI)"
        return f"MongoDB at {where} refused the operation: {message}"
    return f"MongoDB at {where} failed: {err.__class__.__name__}: {str(err).splitlines()[0]}"


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line (the command, the problem, where the help is)."""

    def show(self, file=None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "mongo_todos"
        click.echo(f"{where}: {self.format_message().rstrip('.')} (see '{where} --help')",
                   file=file or sys.stderr)


def _one_line(err: click.UsageError) -> click.UsageError:
    if isinstance(err, OneLineUsageError | click.exceptions.NoArgsIsHelpError):
        return err  # already one line / the help itself, which is what was asked for
    return OneLineUsageError(err.format_message(), err.ctx)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn the failures a user can cause or fix into one line on stderr and exit status."""
    try:
        yield
    except click.UsageError as err:
        raise _one_line(err) from None
    except ConfigError as err:
        click.echo(f"error: invalid setting: {err}", err=True)
        raise click.exceptions.Exit(FAILURE) from None
    except PyMongoError as err:
        uri = current_app.config.get("MONGODB_URI") if current_app else None
        click.echo(f"error: {describe_database_error(err, uri)}", err=True)
        raise click.exceptions.Exit(FAILURE) from None


class Command(click.Command):
    """A click command whose failures are one line (see the module docstring)."""

    def parse_args(self, ctx, args):
        with one_line_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        if current_app:
            _replay(current_app.extensions.pop(_HELD, []))
        with one_line_errors():
            return super().invoke(ctx)


class Group(AppGroup):
    """A Flask CLI group whose commands (and subgroups) all report failures in one line."""

    command_class = Command
    group_class = type  # subgroups are of this class too

    def parse_args(self, ctx, args):
        with one_line_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        with one_line_errors():
            return super().invoke(ctx)
