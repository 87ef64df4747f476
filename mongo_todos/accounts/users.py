"""Accounts: registration, the caller's profile, password change and account deletion.

The operations are plain functions (:func:`create_user`, :func:`set_password`,
:func:`delete_account`) that the views and the operator CLI share.
"""

from __future__ import annotations

import re

from bson import ObjectId
from flask import abort, current_app, url_for
from flask_jwt_extended import get_jwt, jwt_required
from mongoengine.errors import NotUniqueError

from mongo_todos import dates
from mongo_todos.accounts import erasure
from mongo_todos.accounts.auth import (
    check_password,
    current_owner,
    hash_password,
    revoke_family,
    username_key,
)
from mongo_todos.accounts.schemas import (
    AccountDeletionSchema,
    PasswordChangeSchema,
    UserInSchema,
    UserSchema,
)
from mongo_todos.accounts.sessions import end_sessions
from mongo_todos.store.documents import (
    IdempotencyRecord,
    Session,
    Todo,
    User,
)
from mongo_todos.web import errors
from mongo_todos.web.api import Blueprint
from mongo_todos.web.ratelimit import anonymous, password_check_limit

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts")


def create_user(username: str, password: str) -> User:
    """Store a new account; raises NotUniqueError when the name is taken (any case)."""
    return User(
        username=username, username_key=username_key(username),
        password_hash=hash_password(password),
    ).save(force_insert=True)


def find_user(username: str) -> User | None:
    """The account named ``username`` (any case), or None."""
    key = username_key(username)
    return User.objects(username_key=key).first() if key is not None else None


def set_password(user_id: ObjectId, password: str, keep_session: str | None = None) -> int:
    """Store a new password and end every session but ``keep_session``; sessions ended."""
    User._get_collection().update_one(
        {"_id": user_id},
        {"$set": {"password_hash": hash_password(password), "password_changed_at": dates.utcnow()}},
    )
    return end_sessions(user_id, keep=keep_session)


def delete_account(user_id: ObjectId, caller_session: str | None = None) -> dict:
    """Remove an account and everything it owns; counts of what was removed.

    The steps are ordered so that running this again after a failure at any point finishes
    the job (each step is idempotent), and so that the caller (``caller_session``) can still
    send that retry: (1) mark the account deleted, logins are refused from now on; (2) end
    every other session; (3) delete its todos and idempotency records, then run the erasers
    the packages above registered (:mod:`mongo_todos.accounts.erasure`: the changes feed's
    counter and tombstones, the jobs and their files); (4) delete the account,
    which frees the username; (5) end the remaining sessions, the caller's last of all. A retry
    after (4) finds no account and redoes (3) and (5) (:func:`finish_deletion`).
    """
    users = User._get_collection()
    users.update_one({"_id": user_id}, {"$set": {"deleted_at": dates.utcnow()}})
    sessions = end_sessions(user_id, keep=caller_session)
    todos = erase_owned_data(user_id)
    users.delete_one({"_id": user_id})
    sessions += _end_remaining_sessions(user_id, caller_session)
    return {"todos": todos, "sessions": sessions}


def erase_owned_data(user_id: ObjectId) -> int:
    """Step (3) of :func:`delete_account`: the todos deleted. Idempotent; a job that wrote a
    batch after its account's deletion began runs it again (mongo_todos.jobs.runner)."""
    todos = Todo._get_collection().delete_many({"owner": user_id}).deleted_count
    # idempotency records are keyed "<owner id>:<client's key>": an anchored prefix uses _id's index
    IdempotencyRecord._get_collection().delete_many(
        {"_id": {"$regex": "^" + re.escape(f"{user_id}:")}}
    )
    erasure.erase(user_id)
    return todos


def deleted(user_id: ObjectId) -> bool:
    """Whether the account is gone or its deletion has begun (step (1) of delete_account)."""
    user = User._get_collection().find_one({"_id": user_id}, {"deleted_at": 1})
    return user is None or user.get("deleted_at") is not None


def _end_remaining_sessions(user_id: ObjectId, caller_session: str | None) -> int:
    ended = end_sessions(user_id, keep=caller_session)  # e.g. a login that raced step (1)
    if caller_session is not None:
        # its session document last: until it is deleted the caller's token still works
        # (authentication asks for the session) and a retry can finish the job
        revoke_family(caller_session)
        Session._get_collection().delete_one({"_id": caller_session})
        ended += 1
    return ended


def finish_deletion(user_id: ObjectId, caller_session: str | None = None) -> None:
    """Steps (3) and (5) of :func:`delete_account`, for a retry after the account is gone."""
    erase_owned_data(user_id)
    _end_remaining_sessions(user_id, caller_session)


@blp.route("", methods=["POST"])
@anonymous
@blp.doc(security=[], operationId="createUser", description=(
    "Usernames are 3 to 32 characters of letters, digits, `_`, `.` and `-`, unique regardless "
    "of case; passwords 8 to 128 characters. Closed (403) when the operator has turned "
    "registration off."))
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
@blp.doc(operationId="getMe", description="The account the access token belongs to.")
@blp.response(200, UserSchema)
@jwt_required()
def me():
    """Return the authenticated user."""
    return User.objects(id=current_owner()).first() or abort(404, "This account no longer exists.")


def _password_incorrect():
    # 403, not 401: the token is fine, the confirmation is not
    return errors.problem(403, "The password is wrong; nothing was changed.",
                          type="password-incorrect")


@blp.route("/me/password", methods=["PUT"])
@password_check_limit
@blp.doc(operationId="changePassword")
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@blp.alt_response(403, response="FORBIDDEN", description="The current password is wrong "
                  "(problem type password-incorrect); the token is fine.")
@jwt_required()
def change_password(data):
    """Change the password. Every other session of the account ends; the caller's continues."""
    user = User.objects(id=current_owner()).first()
    if user is None or user.deleted_at is not None:
        abort(404, "This account no longer exists.")
    if not check_password(user, data["current_password"]):
        return _password_incorrect()
    set_password(current_owner(), data["new_password"], keep_session=get_jwt()["fam"])
    return "", 204


@blp.route("/me", methods=["DELETE"])
@password_check_limit
@blp.doc(operationId="deleteAccount")
@blp.arguments(AccountDeletionSchema)
@blp.response(204)
@blp.alt_response(403, response="FORBIDDEN", description="The password is wrong "
                  "(problem type password-incorrect).")
@jwt_required()
def delete(data):
    """Delete the account with its todos and sessions; every token of it stops working.

    The username can be registered again afterwards. Safe to retry with the same token if a
    previous attempt failed halfway (a 503): the retry finishes the job.
    """
    owner = current_owner()
    user = User.objects(id=owner).first()
    if user is None:
        # a retry after the account record went: finish the clean-up, nothing left to confirm
        finish_deletion(owner, caller_session=get_jwt()["fam"])
        return "", 204
    if not check_password(user, data["password"]):
        return _password_incorrect()
    delete_account(owner, caller_session=get_jwt()["fam"])
    return "", 204
