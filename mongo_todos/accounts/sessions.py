"""Sessions: one per login; start, rotate and end them, and the ``/users/me/sessions`` views.

A session is the family of tokens one ``POST /api/v1/tokens`` issued and every pair rotated
from it; its id is the family id (claim ``fam``). Its :class:`~mongo_todos.store.documents.Session`
document exists while it is active and holds what a user needs to recognise it (when it started
and was last refreshed, the client's user agent and address at login).

Rotation is a single atomic ``update_one`` conditioned on the presented refresh token being
the current one, so of two refreshes presenting the same token exactly one rotates
it, on MongoDB as on the embedded store. The loser (a second tab, or a client retrying after a
timeout) finds its token as ``previous_jti``: within ``JWT_REFRESH_REUSE_LEEWAY`` it gets the
pair the winner got (rebuilt from the stored claims, byte for byte), so both stay logged in;
after the leeway the reuse is treated as theft and the session ends.

A session ends ``SESSION_MAX_AGE`` after it started, however often it is refreshed: both tokens
of every pair expire at the latest then (so the access token stops at that moment too, with no
lookup; claim ``sxp`` lets the 401 say ``session-expired`` rather than ``token-expired``), and a
refresh after it is refused even if the setting was lowered after the tokens were issued.

Ending a session writes its revocation record and then deletes its document: that deletion
stops its tokens at once (authentication asks for the session) and takes it off the list; both
steps are idempotent, so a retry after a failure between them finishes the job.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from datetime import UTC, datetime

from bson import ObjectId
from flask import current_app, request
from flask_jwt_extended import get_jwt, jwt_required
from flask_smorest import abort
from pymongo.errors import BulkWriteError
from pymongo.read_concern import ReadConcern

from mongo_todos import dates
from mongo_todos.accounts.auth import (
    current_owner,
    forget_sessions,
    new_jti,
    revocation_expiry,
    revoke_family,
    token_pair,
    unauthorized,
)
from mongo_todos.accounts.schemas import SessionListSchema, SessionSchema
from mongo_todos.store.documents import RevokedFamily, Session
from mongo_todos.web.api import Blueprint

log = logging.getLogger("mongo_todos.sessions")
blp = Blueprint(
    "sessions", __name__, url_prefix="/api/v1/users/me/sessions",
    description="Sessions: the account's active logins",
)

#: Session ids are 32 hex digits; anything else cannot name one (404 without a lookup).
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
_NOT_FOUND = "No active session of this account has this id."
DUPLICATE_KEY = 11000
#: Where an account logs in from is nobody else's business: no cache keeps it.
PRIVATE = {"Cache-Control": "no-store", "Vary": "Authorization"}
#: Longest user agent kept with a session (browsers send ~150 characters).
USER_AGENT_MAX = 512


def _epoch(value: datetime) -> int:
    return calendar.timegm(value.utctimetuple())


MAJORITY = ReadConcern("majority")

#: What a session listing shows: never the jtis that would let a reader forge a refresh.
_LISTED = {"current_jti": 0, "access_jti": 0, "previous_jti": 0}


def active_filter(now: datetime) -> dict:
    """The sessions still active at ``now``: their record has not expired, and they started
    less than SESSION_MAX_AGE ago (the setting may have been lowered since they were issued)."""
    return {"expires_at": {"$gt": now},
            "started_at": {"$gt": now - current_app.config["SESSION_MAX_AGE"]}}


def _token_lifetime():
    # a session record must outlive every token of its latest pair: ending the session (which
    # enumerates the records) has to reach them all
    config = current_app.config
    return max(config["JWT_REFRESH_TOKEN_EXPIRES"], config["JWT_ACCESS_TOKEN_EXPIRES"])


# --- storage -------------------------------------------------------------------------------

def start_session(user_id: ObjectId) -> dict:
    """Record a new login for ``user_id`` and return its first token pair (one insert)."""
    config = current_app.config
    now = dates.utcnow()
    issued_at = int(time.time())
    session = {
        "_id": new_jti(),
        "user": user_id,
        "started_at": now,
        "last_refreshed_at": None,
        "user_agent": request.user_agent.string[:USER_AGENT_MAX],
        "address": (request.remote_addr or "")[:64],
        "current_jti": new_jti(),
        "access_jti": new_jti(),
        "previous_jti": None,
        "issued_at": issued_at,
        # no token of the session expires later (seconds since the epoch, as JWTs count)
        "ends_at": issued_at + int(config["SESSION_MAX_AGE"].total_seconds()),
        "expires_at": now + min(_token_lifetime(), config["SESSION_MAX_AGE"]),
    }
    Session._get_collection().insert_one(session)
    return _pair(session)


def _pair(session: dict, now: int | None = None) -> dict:
    return token_pair(
        session["user"], session["_id"], session["current_jti"], session["access_jti"],
        session["issued_at"], session["ends_at"], now,
    )


def rotate(claims: dict):
    """Trade the refresh token of ``claims`` for the session's next pair.

    Returns the pair, or a 401 problem response when the session has ended, is past its
    maximum age, or the token was spent longer ago than the reuse leeway (then the session
    ends: someone else may hold the token).
    """
    now = dates.utcnow()
    successor = _successor(claims)
    # one conditional write decides: of several refreshes presenting this token, only one
    # matches current_jti (a single-document update is atomic on MongoDB)
    if _store_if_current(successor, claims["jti"], now):
        # the new pair needs nothing the update would have to return: the signed claims
        # carry the user and the session's end
        return _pair(successor)
    return _not_rotated(claims, now)


def _oldest_start(now: datetime) -> datetime:
    """Sessions that started at or before this are past SESSION_MAX_AGE."""
    return now - current_app.config["SESSION_MAX_AGE"]


def _successor(claims: dict) -> dict:
    """The session's next pair, as :func:`_pair` reads it (fresh jtis, same session end)."""
    return {
        "_id": claims["fam"],
        "user": ObjectId(claims["sub"]),
        "current_jti": new_jti(),
        "access_jti": new_jti(),
        "issued_at": int(time.time()),
        "ends_at": claims.get("sxp"),
    }


def _store_if_current(successor: dict, jti: str, now: datetime) -> bool:
    """Make ``successor`` the session's pair if ``jti`` is still its current refresh token and
    the session is younger than its maximum age; whether it did."""
    ends_at = successor["ends_at"]
    if not isinstance(ends_at, int):
        return False
    return Session._get_collection().update_one(
        {"_id": successor["_id"], "current_jti": jti, "started_at": {"$gt": _oldest_start(now)}},
        {"$set": {
            "previous_jti": jti,
            "current_jti": successor["current_jti"],
            "access_jti": successor["access_jti"],
            "issued_at": successor["issued_at"],
            "last_refreshed_at": now,
            # never past the session's end: no token of the new pair outlives it either
            "expires_at": min(now + _token_lifetime(),
                              datetime.fromtimestamp(ends_at, UTC).replace(tzinfo=None)),
        }},
    ).matched_count == 1


def _not_rotated(claims: dict, now: datetime):
    """The rare paths, told apart with one more read: the session ended or aged out (401), or
    the token was spent already: within the reuse leeway the pair it produced, else the
    session ends (401)."""
    session_id, jti = claims["fam"], claims["jti"]
    # majority-committed state only: a rotation a failover may still roll back must not make
    # this token look reused (which ends the login)
    session = Session._get_collection().with_options(read_concern=MAJORITY).find_one(
        {"_id": session_id})
    if session is None:
        return unauthorized("This login has ended; log in again.", type="token-revoked")
    if session["started_at"] <= _oldest_start(now):
        end_session(session_id)
        return unauthorized(
            "This login reached its maximum age and has ended; log in again.",
            type="session-expired",
        )
    spent_for = _epoch(now) - session["issued_at"]
    leeway = current_app.config["JWT_REFRESH_REUSE_LEEWAY"].total_seconds()
    # strictly less: a leeway of 0 tolerates no reuse at all
    if session["previous_jti"] == jti and spent_for < leeway:
        # an honest retry (two tabs, a lost response): the pair this token already produced
        return _pair(session, now=int(time.time()))
    end_session(session_id)
    log.warning("refresh token reuse for user %s: session %s ended", claims["sub"], session_id)
    return unauthorized(
        "This refresh token was already used; every token of this login is now revoked.",
        type="token-revoked",
    )


def end_session(session_id: str) -> None:
    """End one session: its tokens stop and it leaves the list at once (idempotent)."""
    revoke_family(session_id)
    Session._get_collection().delete_one({"_id": session_id})


def end_sessions(user_id: ObjectId, keep: str | None = None) -> int:
    """End every session of ``user_id`` except ``keep``; the number ended (idempotent)."""
    sessions = Session._get_collection()
    query: dict = {"user": user_id}
    if keep is not None:
        query["_id"] = {"$ne": keep}
    ids = [doc["_id"] for doc in sessions.find(query, {"_id": 1})]
    if not ids:
        return 0
    expires_at = revocation_expiry()
    try:
        # one round trip for all of them; unordered, so an existing record does not stop the rest
        RevokedFamily._get_collection().insert_many(
            [{"_id": i, "expires_at": expires_at} for i in ids], ordered=False
        )
    except BulkWriteError as err:
        # already revoked (a retry after a failure halfway): that record covers its tokens;
        # a write concern failure comes with no writeErrors at all, and is the service's 503
        if err.details.get("writeConcernErrors") or any(
                e.get("code") != DUPLICATE_KEY for e in err.details.get("writeErrors", [])):
            raise
    sessions.delete_many({"_id": {"$in": ids}})
    forget_sessions(ids)
    return len(ids)


def active_sessions(user_id: ObjectId) -> list[dict]:
    """The account's active sessions, oldest first."""
    now = dates.utcnow()
    return list(Session._get_collection().find(
        {"user": user_id, **active_filter(now)}, _LISTED,
    ).sort([("started_at", 1), ("_id", 1)]))


# --- views ---------------------------------------------------------------------------------

@blp.route("", methods=["GET"])
@blp.response(200, SessionListSchema)
@jwt_required()
def all():  # noqa: A001 (the house's verb names)
    """List the account's active sessions (logins); `current` marks the caller's."""
    current = get_jwt()["fam"]
    items = active_sessions(current_owner())
    for item in items:
        item["current"] = item["_id"] == current
    return {"items": items}, PRIVATE


def _own_session(session_id: str) -> dict:
    """The caller's active session ``session_id``, or a 404 (another account's id included)."""
    session = None
    if _SESSION_ID.fullmatch(session_id):
        now = dates.utcnow()
        session = Session._get_collection().find_one(
            {"_id": session_id, "user": current_owner(), **active_filter(now)}, _LISTED)
    if session is None:
        abort(404, message=_NOT_FOUND)
    session["current"] = session["_id"] == get_jwt()["fam"]
    return session


@blp.route("/<session_id>", methods=["GET"])
@blp.response(200, SessionSchema)
@blp.alt_response(404, response="NOT_FOUND")
@jwt_required()
def get(session_id):
    """Return one active session of the account."""
    return _own_session(session_id), PRIVATE


@blp.route("/<session_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
@jwt_required()
def delete(session_id):
    """End one session: its access and refresh tokens stop working at once.

    Ending the caller's own session is a logout. Another account's session id is a 404.
    """
    end_session(_own_session(session_id)["_id"])
    return "", 204


@blp.route("", methods=["DELETE"])
@blp.doc(operationId="endOtherSessions")
@blp.response(204)
@jwt_required()
def delete_others():
    """Log out everywhere else: end every session of the account except the caller's."""
    ended = end_sessions(current_owner(), keep=get_jwt()["fam"])
    log.info("user %s ended %d other session(s)", current_owner(), ended)
    return "", 204
