"""What a person at a terminal gets from the command line: one clear line per failure.

Every Flask CLI command (``flask --app mongo_todos ...``) and ``scripts/seed.py`` answers a bad
setting, an unreachable or refusing MongoDB, or a wrong argument with one line on stderr naming
the problem (and the fix where there is one) and a non-zero exit, never a traceback:

- :func:`app_for_flask_cli` builds the app for ``flask --app mongo_todos`` (the package's
  ``app`` attribute points here): an invalid setting stops it with one line, ``--help`` runs
  without the start-up warnings, and in a terminal those warnings read as text, not JSON.
- :class:`Group` and :class:`Command` are the click classes of every command in ``cli.py``:
  a command added to the ``users`` or ``db`` group, or declared with ``cls=Command``, gets the
  same error handling without code of its own.

An error nobody foresaw (a bug) still shows its traceback: hiding it would not help anyone.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import click
from flask.cli import AppGroup
from pymongo.errors import (
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)

from .settings import ConfigError

#: Exit status of a command stopped by a bad setting or an unusable database.
FAILURE = 1


class _ReadableFormatter(logging.Formatter):
    """``warning: <message>``: start-up warnings as a person reads them."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _asks_for_help(argv: list[str]) -> bool:
    if "--help" in argv:
        return True
    values = _flask_option_values(argv)
    words = [a for a in argv if not a.startswith("-") and a not in values]
    return not words  # `flask --app mongo_todos` alone prints the help


def _flask_option_values(argv: list[str]) -> set[str]:
    """Values of flask's own options (``--app mongo_todos``, ``-e FILE``), not command names."""
    return {value for option, value in zip(argv, argv[1:], strict=False)
            if option in ("--app", "-A", "--env-file", "-e")}


def app_for_flask_cli():
    """The app as ``flask --app mongo_todos`` loads it, for people at a terminal."""
    from . import create_app

    root = logging.getLogger()
    if not root.handlers and sys.stderr.isatty():
        # logs.configure() keeps a handler that is already there: JSON stays the format
        # for machines (a container, CI), a terminal gets text
        handler = logging.StreamHandler()
        handler.setFormatter(_ReadableFormatter())
        root.addHandler(handler)
    quiet = _asks_for_help(sys.argv[1:])
    if quiet:
        # the random-key and embedded-store warnings concern a running server, not the help
        logging.disable(logging.WARNING)
    try:
        return create_app()
    except ConfigError as err:
        raise SystemExit(f"mongo_todos: invalid setting: {err}") from None
    finally:
        if quiet:
            logging.disable(logging.NOTSET)


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
        click.echo(f"{where}: {self.format_message()} (see '{where} --help')",
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
        from flask import current_app

        uri = current_app.config.get("MONGODB_URI") if current_app else None
        click.echo(f"error: {describe_database_error(err, uri)}", err=True)
        raise click.exceptions.Exit(FAILURE) from None


class Command(click.Command):
    """A click command whose failures are one line (see the module docstring)."""

    def parse_args(self, ctx, args):
        with one_line_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
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
