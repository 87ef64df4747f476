"""Bounded work per user: the todo quota.

``TODO_QUOTA`` (default 10,000; 0 turns it off) caps how many todos one account holds. A create
past it is refused with ``409 Conflict`` and problem type ``quota-exceeded``: the request is
valid, but conflicts with the state of the caller's collection, and succeeds again once some
todos are deleted (a 403 would say the caller may never do this; a 429 that waiting helps).

The count is one ``count_documents`` on the owner's todos, bounded by the quota itself (an
index count on MongoDB: every todo index starts with the owner). Concurrent creates may
overshoot by the number of creates in flight, on either store: the count and the insert are two
operations (the embedded store makes each one atomic, not the pair), and a cap that may be
passed by a few in-flight creates is all the quota promises.
"""

from __future__ import annotations

from bson import ObjectId
from flask import current_app
from flask_smorest import abort

from mongo_todos.store.documents import Todo


def check_todo_quota(owner: ObjectId) -> None:
    """Abort with a 409 ``quota-exceeded`` problem when ``owner`` holds ``TODO_QUOTA`` todos."""
    quota = current_app.config.get("TODO_QUOTA", 0)
    if not quota:
        return
    held = Todo._get_collection().count_documents({"owner": owner}, limit=quota)
    if held >= quota:
        abort(409, message=quota_message(quota), type="quota-exceeded")


def quota_message(quota: int) -> str:
    return (f"You hold {quota} todos, the most one account may hold: delete some before "
            "creating more.")


def room(owner: ObjectId) -> int | None:
    """How many more todos ``owner`` may create (None: no quota); an import's batch takes
    at most that many."""
    quota = current_app.config.get("TODO_QUOTA", 0)
    if not quota:
        return None
    return max(quota - Todo._get_collection().count_documents({"owner": owner}), 0)
