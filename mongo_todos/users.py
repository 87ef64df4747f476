"""Accounts: registration and the caller's own profile."""

from __future__ import annotations

from flask import abort, current_app, url_for
from flask_jwt_extended import jwt_required
from mongoengine.errors import NotUniqueError

from .auth import current_owner, hash_password
from .extensions import Blueprint
from .models import User
from .schemas import UserInSchema, UserSchema

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts")


def create_user(username: str, password: str) -> User:
    """Store a new account; raises NotUniqueError when the name is taken (any case)."""
    return User(
        username=username, username_key=username.lower(), password_hash=hash_password(password)
    ).save(force_insert=True)


@blp.route("", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(UserInSchema)
@blp.response(201, UserSchema, headers={"Location": {"schema": {"type": "string"}}})
@blp.alt_response(409, response="CONFLICT")  # username taken
@blp.alt_response(403, response="FORBIDDEN")  # registration closed
def new(data):
    """Create an account."""
    if not current_app.config["REGISTRATION_OPEN"]:
        abort(403, "Registration is closed; an operator can create accounts from the CLI.")
    try:
        user = create_user(data["username"], data["password"])
    except NotUniqueError:
        abort(409, f"The username {data['username']!r} is taken.")
    return user, {"Location": url_for("users.me", _external=True)}


@blp.route("/me", methods=["GET"])
@blp.response(200, UserSchema)
@jwt_required()
def me():
    """Return the authenticated user."""
    return User.objects(id=current_owner()).first() or abort(404, "This account no longer exists.")
