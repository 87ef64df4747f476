"""Account erasers: what packages above ``accounts`` add to the deletion of an account.

Deleting an account removes everything it owns, but ``accounts`` sits below the packages that
own some of it (the changes feed's counter and tombstones, the jobs and their GridFS files),
and nothing imports upward. So those packages register an *eraser* here when the app is built
(``register(app, eraser)``), and :func:`mongo_todos.accounts.users.delete_account` calls
:func:`erase` after the account's todos are gone. The registry is the app's (in
``app.extensions``), not the process's: every app built gets the same erasers, once each.

An eraser is ``eraser(user_id) -> None``: idempotent (a deletion retried after a failure runs
every eraser again) and tolerant of finding nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from bson import ObjectId
from flask import Flask, current_app

Eraser = Callable[[ObjectId], None]
_EXTENSION = "mongo_todos_account_erasers"


def register(app: Flask, eraser: Eraser) -> None:
    """Have deleting an account of ``app`` also run ``eraser`` (once, however often asked)."""
    erasers = app.extensions.setdefault(_EXTENSION, [])
    if eraser not in erasers:
        erasers.append(eraser)


def erase(user_id: ObjectId) -> None:
    """Run the current app's erasers for ``user_id``, in the order they were registered."""
    for eraser in current_app.extensions.get(_EXTENSION, ()):
        eraser(user_id)
