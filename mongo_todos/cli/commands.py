"""Flask CLI commands: ``flask --app mongo_todos users create NAME``, ``db init``, ``seed``.

Every command belongs to a :class:`console.Group` or is declared with ``cls=console.Command``:
a bad setting, an unreachable MongoDB or a wrong argument then ends it with one line on stderr
and a non-zero exit, never a traceback. Help texts are plain text (click shows them as written).
"""

from __future__ import annotations

import re
import time

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, with_appcontext
from marshmallow import ValidationError
from mongoengine.errors import NotUniqueError

from mongo_todos import dates
from mongo_todos.accounts.schemas import UserInSchema
from mongo_todos.accounts.sessions import active_filter, active_sessions, end_sessions
from mongo_todos.accounts.users import create_user, delete_account, find_user, set_password
from mongo_todos.cli import terminal as console
from mongo_todos.dates import isoformat
from mongo_todos.seed import DEMO_PASSWORD, plant
from mongo_todos.store.documents import Session, Todo, User, apply_validators, create_indexes
from mongo_todos.todos.search import backfill
from mongo_todos.todos.sequence import number_old_todos

users_cli = console.Group("users", help="Manage accounts.")
db_cli = console.Group("db", help="Manage the database.")


def warn_if_embedded(what: str, instead: str = "") -> None:
    """Say on stderr, before any work, that ``what`` ends with this command's process."""
    if current_app.config["EMBEDDED_DB"]:
        click.echo(
            f"warning: MONGODB_URI is not set: {what} only in this command's in-memory store, "
            f"gone when it exits; set MONGODB_URI (and the two keys) to keep it{instead}",
            err=True,
        )


def _warn_before_the_prompt(ctx: click.Context, param, value: str) -> str:
    # runs as USERNAME is parsed, so the warning comes before the password is asked for
    app = ctx.ensure_object(ScriptInfo).load_app()
    with app.app_context():
        warn_if_embedded("the account exists",
                         ", or register on the running server: POST /api/v1/users")
    return value


@users_cli.command("create")
@click.argument("username", callback=_warn_before_the_prompt)
@click.password_option(help="Prompted (hidden, asked twice) when not given.")
def create_user_command(username: str, password: str) -> None:
    """Create an account (works even when registration is closed).

    Without MONGODB_URI the account is created in this command's own in-memory store and is
    gone when it exits (a warning says so): register on a running embedded server with
    POST /api/v1/users instead.
    """
    try:
        data = UserInSchema().load({"username": username, "password": password})
    except ValidationError as err:
        problems = "; ".join(f"{field}: {' '.join(messages)}"
                             for field, messages in err.messages.items())
        click.echo(f"error: {problems}", err=True)
        raise SystemExit(2) from None
    try:
        user = create_user(data["username"], data["password"])
    except NotUniqueError:
        click.echo(f"error: the username {username!r} is taken", err=True)
        raise SystemExit(1) from None
    click.echo(f"created user {user.username} ({user.id})")


@db_cli.command("init")
def init_db_command() -> None:
    """Create the collections' indexes and fill in stored keys that older versions did not
    write (idempotent; run once per deploy)."""
    create_indexes()
    click.echo("indexes are in place")
    # todos stored before search keys existed: without task_key, q would not find their task
    click.echo(f"search keys added to {backfill(Todo._get_collection())} todo(s)")
    click.echo(f"sequence numbers added to {number_old_todos(Todo._get_collection())} todo(s)")
    # mongomock ignores validators (it would store what MongoDB refuses), so the embedded
    # store gets none: there every write comes from this process's own code anyway
    if not current_app.config["EMBEDDED_DB"]:
        apply_validators(Todo._get_db())
        click.echo("todo schema validator is in place")


def _valid_password(value: str | None) -> str | None:
    """The password rule of registration, for accounts made on the command line."""
    if value is not None:
        errors = UserInSchema(only=("password",)).validate({"password": value})
        if errors:
            raise click.BadParameter(" ".join(errors["password"]))
    return value


@click.command("seed", cls=console.Command)
@with_appcontext
@click.option("--users", default=3, show_default=True, type=click.IntRange(1, 1000),
              help="Demo accounts: demo, demo2, demo3, ...")
@click.option("--todos-per-user", default=100, show_default=True,
              type=click.IntRange(0, 1_000_000),
              help="Todos of each demo account (one at TODO_QUOTA, 10,000 by default, can "
                   "create no more through the API).")
@click.option("--seed", "seed_value", default=0, show_default=True, type=int,
              help="Same seed, same data: runs are repeatable.")
@click.option("--reset", is_flag=True, help="Delete the demo accounts' todos first.")
@click.option("--password", default=None, callback=lambda ctx, param, value: _valid_password(value),
              help="Password of the demo accounts this run creates (8 to 128 characters) "
                   "[demo-password].")
def seed_command(users, todos_per_user, seed_value, reset, password):
    """Create demo accounts and todos (idempotent: a second run adds nothing)."""
    # rich (about 60 modules) loads only when a seed runs: create_app() imports this module
    # for every server worker and test app, none of which draws a progress bar
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if current_app.config["EMBEDDED_DB"]:
        click.echo(
            "warning: MONGODB_URI is not set; the seeded data lives only in this command's "
            "process. To serve demo data without MongoDB run: python -m mongo_todos --demo-todos N",
            err=True,
        )
    started = time.perf_counter()
    console = Console(stderr=True)
    # a bar for a person at a terminal (counts and elapsed time: an estimate of the time left
    # would be a guess), nothing in a log; it clears itself and the summary below stays
    with Progress(TextColumn("todos"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("todos", total=users * todos_per_user)
        report = plant(
            users=users,
            todos_per_user=todos_per_user,
            seed=seed_value,
            reset=reset,
            password=password or DEMO_PASSWORD,
            on_progress=lambda n: progress.advance(task, n),
        )
    elapsed = time.perf_counter() - started
    if report.todos_deleted:
        click.echo(f"todos: {report.todos_deleted} deleted (--reset)")
    click.echo(f"todos: {report.todos_created} created, {report.todos_present} already present "
               f"({elapsed:.1f} s)")
    click.echo(f"accounts: {len(report.accounts_created)} created, "
               f"{len(report.accounts_present)} already present")
    created = set(report.accounts_created)
    for username, pw in report.credentials:
        if username in created:
            click.echo(f"  username={username} password={pw}")
        else:
            click.echo(f"  username={username} (already present: its password is unchanged)")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(seed_command)


# --- operator commands on accounts: users list/show/set-password/end-sessions/delete ---------

def _embedded_store_warning() -> None:
    if current_app.config["EMBEDDED_DB"]:
        click.echo(
            "warning: MONGODB_URI is not set; this command runs against the embedded in-memory "
            "store, which starts empty and is gone when the command ends: nothing it does "
            "reaches a running server",
            err=True,
        )


def _account(username: str):
    """The account named ``username`` (any case), or exit 1 saying there is none."""
    user = find_user(username)
    if user is None:
        click.echo(f"error: no account named {username!r}", err=True)
        raise SystemExit(1)
    return user


def _session_counts() -> dict:
    """Active sessions per account id, counted by the database (one $group)."""
    pipeline = [{"$match": active_filter(dates.utcnow())},
                {"$group": {"_id": "$user", "n": {"$sum": 1}}}]
    return {row["_id"]: row["n"] for row in Session._get_collection().aggregate(pipeline)}


@users_cli.command("list")
def list_users_command() -> None:
    """List the accounts: name, id, creation time and number of sessions."""
    _embedded_store_warning()
    counts = _session_counts()
    users = list(User.objects.order_by("username_key"))
    for user in users:
        state = "  (deletion unfinished)" if user.deleted_at else ""
        click.echo(f"{user.username}\t{user.id}\tcreated {isoformat(user.created_at)}\t"
                   f"sessions {counts.get(user.id, 0)}{state}")
    click.echo(f"{len(users)} account(s)")


@users_cli.command("show")
@click.argument("username")
def show_user_command(username: str) -> None:
    """Show one account and its active sessions."""
    _embedded_store_warning()
    user = _account(username)
    sessions = active_sessions(user.id)
    click.echo(f"username: {user.username}")
    click.echo(f"id: {user.id}")
    click.echo(f"created: {isoformat(user.created_at)}")
    click.echo(f"password changed: {isoformat(user.password_changed_at) or 'never'}")
    if user.deleted_at:
        click.echo(f"deletion started: {isoformat(user.deleted_at)} (run 'users delete' to finish)")
    click.echo(f"sessions: {len(sessions)}")
    for s in sessions:
        click.echo(f"  {s['_id']}  started {isoformat(s['started_at'])}  last refreshed "
                   f"{isoformat(s['last_refreshed_at']) or 'never'}  from {s['address'] or '?'}  "
                   f"{_escaped(s['user_agent']) or '(no user agent)'}")


#: C0 and C1 control characters: a stored User-Agent is the client's text, and raw it could
#: drive the operator's terminal (escape sequences, a cleared screen, a fake line).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escaped(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@users_cli.command("set-password")
@click.argument("username")
@click.password_option(help="Prompted (hidden, asked twice) when not given.")
def set_password_command(username: str, password: str) -> None:
    """Set an account's password; every session of the account ends."""
    _embedded_store_warning()
    user = _account(username)
    try:
        UserInSchema(only=("password",)).load({"password": password})
    except ValidationError as err:
        click.echo(f"error: password: {' '.join(err.messages['password'])}", err=True)
        raise SystemExit(2) from None
    ended = set_password(user.id, password)
    click.echo(f"password of {user.username} changed; {ended} session(s) ended")


@users_cli.command("end-sessions")
@click.argument("username")
def end_sessions_command(username: str) -> None:
    """End every session of an account (its tokens stop working at once)."""
    _embedded_store_warning()
    user = _account(username)
    click.echo(f"ended {end_sessions(user.id)} session(s) of {user.username}")


@users_cli.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_user_command(username: str, yes: bool) -> None:
    """Delete an account with its todos and sessions (safe to run again if interrupted)."""
    _embedded_store_warning()
    user = _account(username)
    if not yes:
        click.confirm(f"Delete {user.username} ({user.id}) and all its todos?", abort=True)
    removed = delete_account(user.id)
    click.echo(f"deleted {user.username} ({user.id}): {removed['todos']} todo(s), "
               f"{removed['sessions']} session(s) ended")
