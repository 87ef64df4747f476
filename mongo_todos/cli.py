"""Flask CLI commands: ``flask --app mongo_todos users create NAME``, ``db init``, ``seed``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from marshmallow import ValidationError
from mongoengine.errors import NotUniqueError

from .models import create_indexes
from .schemas import UserInSchema

users_cli = AppGroup("users", help="Manage accounts.")
db_cli = AppGroup("db", help="Manage the database.")


@users_cli.command("create")
@click.argument("username")
@click.password_option(help="Prompted (hidden, asked twice) when not given.")
def create_user_command(username: str, password: str) -> None:
    """Create an account (works even when registration is closed)."""
    from .users import create_user

    try:
        data = UserInSchema().load({"username": username, "password": password})
    except ValidationError as err:
        for field, messages in err.messages.items():
            click.echo(f"error: {field}: {' '.join(messages)}", err=True)
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
    from .models import Todo
    from .search import backfill

    create_indexes()
    click.echo("indexes are in place")
    # todos stored before search keys existed: without task_key, q would not find their task
    click.echo(f"search keys added to {backfill(Todo._get_collection())} todo(s)")


@click.command("seed")
@with_appcontext
@click.option("--users", default=3, show_default=True, type=click.IntRange(1, 1000),
              help="Demo accounts: demo, demo2, demo3, ...")
@click.option("--todos-per-user", default=100, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--seed", "seed_value", default=0, show_default=True, type=int,
              help="Same seed, same data: runs are repeatable.")
@click.option("--reset", is_flag=True, help="Delete the demo accounts' todos first.")
@click.option("--password", default=None, help="Password of new demo accounts [demo-password].")
def seed_command(users, todos_per_user, seed_value, reset, password):
    """Create demo accounts and todos (idempotent: a second run adds nothing)."""
    from flask import current_app
    from rich.progress import Progress

    from .seed import DEMO_PASSWORD, seed

    if current_app.config["EMBEDDED_DB"]:
        click.echo(
            "warning: MONGODB_URI is not set; the seeded data lives only in this command's "
            "process. To serve demo data without MongoDB run: python -m mongo_todos --demo-todos N",
            err=True,
        )
    with Progress(transient=False) as progress:
        task = progress.add_task("todos", total=users * todos_per_user)
        credentials = seed(
            users=users,
            todos_per_user=todos_per_user,
            seed=seed_value,
            reset=reset,
            password=password or DEMO_PASSWORD,
            on_progress=lambda n: progress.advance(task, n),
        )
    click.echo(f"seeded {users} account(s) with {todos_per_user} todos each")
    for username, pw in credentials:
        click.echo(f"  username={username} password={pw}")
    click.echo("(accounts that already existed keep the password they had)")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(seed_command)
