"""Flask CLI commands: ``flask --app mongo_todos users create NAME``, ``db init``, ``seed``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
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
    """Create the collections' indexes (idempotent; run once per deploy)."""
    create_indexes()
    click.echo("indexes are in place")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
