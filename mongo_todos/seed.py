"""Demo data: accounts and realistic todos, inserted in batches, idempotent and repeatable.

Used by ``python -m mongo_todos`` (the embedded demo), ``flask --app mongo_todos seed`` and
``scripts/seed.py``. Todo ids are derived from ``(seed, username, index)``, so a second run with
the same arguments inserts nothing new: accounts and todos are never duplicated. Dates are
spread around the start of the current UTC day, so the same seed gives the same data all day.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.errors import BulkWriteError

from .dates import FAR_FUTURE, utcnow
from .models import Todo, User

DEMO_PASSWORD = "demo-password"
BATCH_SIZE = 1000

_VERBS = ["Buy", "Call", "Email", "Fix", "Plan", "Review", "Book", "Clean", "Write", "Pay",
          "Renew", "Schedule", "Order", "Return", "Prepare", "Update", "Cancel", "Check"]
_OBJECTS = ["groceries", "the dentist", "car insurance", "the leaking tap", "birthday party",
            "quarterly report", "train tickets", "the garage", "thank-you notes", "electricity bill",
            "passport", "team meeting", "new running shoes", "library books", "slides for Monday",
            "budget spreadsheet", "gym membership", "flights to Lisbon", "the kitchen sink"]
_DETAILS = ["", "before the weekend", "ask for a discount", "see the email from Ana",
            "compare three offers first", "keep the receipt", "needs a signature",
            "bring the documents", "remember the reference number"]
_TAGS = ["home", "work", "errands", "health", "finance", "family", "travel", "urgent", "someday"]


def demo_usernames(users: int) -> list[str]:
    return ["demo"] + [f"demo{i}" for i in range(2, users + 1)]


def _todo_id(seed: int, username: str, index: int) -> ObjectId:
    return ObjectId(hashlib.sha256(f"{seed}:{username}:{index}".encode()).digest()[:12])


def _todo(rng: random.Random, owner: ObjectId, _id: ObjectId, now) -> dict:
    name = f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
    due = created + timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.6 else None
    task = rng.choice(_DETAILS)
    return {
        "_id": _id,
        "owner": owner,
        "name": name,
        "name_key": name.casefold(),
        "task": task,
        "task_key": task.casefold(),
        "done": rng.random() < 0.3,
        "due_at": due,
        "due_sort": due or FAR_FUTURE,
        "tags": rng.sample(_TAGS, rng.randrange(0, 4)),
        "created_at": created,
        "updated_at": created,
        "version": 1,
    }


def seed(
    *,
    users: int = 1,
    todos_per_user: int = 5,
    seed: int = 0,
    reset: bool = False,
    password: str = DEMO_PASSWORD,
    on_progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Create ``users`` demo accounts with ``todos_per_user`` todos each.

    Returns the (username, password) pairs. ``reset`` first deletes those accounts' todos.
    ``on_progress`` is called with the number of todos handled after each batch.
    """
    from .users import create_user

    anchor = now or utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    credentials = []
    for username in demo_usernames(users):
        user = User.objects(username_key=username).first() or create_user(username, password)
        credentials.append((username, password))
        collection = Todo._get_collection()
        if reset:
            collection.delete_many({"owner": user.id})
        rng = random.Random(f"{seed}:{username}")
        batch = []
        for index in range(todos_per_user):
            batch.append(_todo(rng, user.id, _todo_id(seed, username, index), anchor))
            if len(batch) == BATCH_SIZE or index == todos_per_user - 1:
                _insert_new(collection, batch)
                if on_progress:
                    on_progress(len(batch))
                batch = []
    return credentials


def _insert_new(collection, batch: list[dict]) -> None:
    """Insert a batch, skipping todos a previous run already inserted."""
    try:
        collection.insert_many(batch, ordered=False)
    except BulkWriteError as err:
        if any(e.get("code") != 11000 for e in err.details.get("writeErrors", [])):
            raise
