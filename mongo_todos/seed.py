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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.errors import BulkWriteError

from mongo_todos.accounts.users import create_user
from mongo_todos.dates import utcnow
from mongo_todos.store.documents import Todo, User
from mongo_todos.todos import sequence
from mongo_todos.todos.store import stored_fields

DEMO_PASSWORD = "demo-password"
BATCH_SIZE = 1000

# A person's todo list is a handful of recurring chores and one-off errands. Each template
# keeps a todo coherent: the task explains the name, the tags fit both, and the due window
# fits the kind of task (groceries in days, a passport renewal in weeks, "someday" in never).
_PEOPLE = ["Ana", "Ben", "Mum", "Dad", "Priya", "Tom", "Grandma", "Lucas", "Sofia", "Marta"]
_SLOTS = {
    "person": _PEOPLE,
    "bill": ["electricity", "water", "phone", "internet", "council tax"],
    "book": ["Dune", "Middlemarch", "The Overstory", "Project Hail Mary", "Circe"],
    "room": ["kitchen", "bathroom", "garage", "spare room", "balcony"],
    "city": ["Lisbon", "Berlin", "Edinburgh", "Lyon", "Porto"],
    "colleague": ["Ana", "Ben", "Priya", "Tom"],
    "report": ["quarterly", "monthly sales", "budget", "project status"],
}
#: (name, task, tags, (min, max) days from creation to due date, or None for no due date)
_TEMPLATES = [
    ("Buy groceries", "Milk, eggs, bread, coffee, and something for dinner", ["errands", "home"], (1, 3)),
    ("Pay the {bill} bill", "Pay from the joint account and keep the confirmation", ["finance", "home"], (5, 20)),
    ("Call {person} back", "Missed their call at the weekend", ["family"], (1, 4)),
    ("Send {person} a birthday card", "Post it at least three days before", ["family"], (5, 25)),
    ("Book a dentist appointment", "The six-month check-up is overdue; ask for a morning slot", ["health"], (7, 30)),
    ("Refill prescription", "Two weeks of tablets left; order at the pharmacy", ["health", "errands"], (3, 10)),
    ("Go for a run", "5 km along the river", ["health"], (1, 2)),
    ("Renew passport", "It expires in four months; photos from the booth at the station", ["travel", "admin"], (20, 45)),
    ("Book flights to {city}", "Compare the morning flights; hand luggage only", ["travel"], (10, 40)),
    ("Book a hotel in {city}", "Near the old town, with breakfast", ["travel"], (10, 40)),
    ("Clean the {room}", "Hoover, dust, and take out the recycling", ["home"], (2, 7)),
    ("Fix the leaking tap", "Buy a washer kit first; the bathroom tap drips", ["home"], (3, 14)),
    ("Return {book} to the library", "Due back on the date on the receipt", ["errands"], (7, 21)),
    ("Read {book}", "A chapter a night", ["personal"], None),
    ("Renew car insurance", "Get two other quotes before accepting the renewal", ["finance", "car"], (10, 30)),
    ("Book the car's MOT", "The garage on Mill Road has Saturday slots", ["car"], (7, 28)),
    ("File expense report", "Receipts from the last client visit are in the blue folder", ["work", "finance"], (3, 10)),
    ("Prepare the {report} report", "Pull the numbers on Monday; draft by Wednesday", ["work"], (4, 14)),
    ("Review {colleague}'s pull request", "The pagination change; check the tests too", ["work"], (1, 3)),
    ("1:1 with {colleague}", "Talk about the roadmap and their holiday plans", ["work"], (2, 7)),
    ("Update CV", "Add the last project and trim the old jobs", ["work", "personal"], None),
    ("Plan {person}'s birthday dinner", "Book a table for six, somewhere vegetarian-friendly", ["family"], (10, 30)),
    ("Water the plants", "The ferns on the balcony need it most", ["home"], (1, 3)),
    ("Take the bins out", "Recycling goes out on Tuesday", ["home"], (1, 2)),
    ("Cancel the gym membership", "One month's notice, in writing", ["finance", "health"], (5, 20)),
    ("Transfer savings", "Move this month's amount to the savings account", ["finance"], (3, 10)),
    ("Do the tax return", "P60 and the bank interest statement are needed", ["finance", "admin"], (20, 60)),
    ("Learn to make sourdough", "Start a starter a week ahead", ["personal"], None),
    ("Sort out old photos", "Scan the albums from the loft", ["personal", "home"], None),
    ("Pick up the dry cleaning", "Ticket number is on the fridge", ["errands"], (1, 5)),
    ("Buy a present for {person}", "Something for the garden, under 40", ["family", "errands"], (5, 20)),
    ("Service the bike", "Brakes squeak and the chain needs oil", ["personal"], (7, 30)),
]
_UNDATED_DONE = 0.25  # share of undated todos already done
_PAST_DONE = 0.8      # share of todos whose due date has passed that were done


def demo_usernames(users: int) -> list[str]:
    return ["demo"] + [f"demo{i}" for i in range(2, users + 1)]


def _todo_id(seed: int, username: str, index: int) -> ObjectId:
    return ObjectId(hashlib.sha256(f"{seed}:{username}:{index}".encode()).digest()[:12])


def _todo(rng: random.Random, owner: ObjectId, _id: ObjectId, now) -> dict:
    name, task, tags, window = rng.choice(_TEMPLATES)
    slots = {key: rng.choice(values) for key, values in _SLOTS.items()}
    name, task = name.format(**slots), task.format(**slots)
    created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
    due = None
    if window is not None:
        # on the hour, the way people set them
        due = (created + timedelta(days=rng.randint(*window))).replace(
            hour=rng.choice([9, 12, 17, 18]), minute=0, second=0, microsecond=0)
    if due is None:
        done = rng.random() < _UNDATED_DONE
    else:
        done = rng.random() < (_PAST_DONE if due < now else 0.1)
    # a done todo was touched when it was ticked off, some time after it was written down
    updated = min(now, created + timedelta(minutes=rng.randrange(5, 60 * 24 * 5))) if done \
        else created
    return {
        "_id": _id,
        "owner": owner,
        # the search and sort keys, exactly as the API stores them
        **stored_fields({"name": name, "task": task, "due_at": due}),
        "done": done,
        "tags": list(tags),
        "created_at": created,
        "updated_at": updated,
        "version": 1,
    }


@dataclass
class SeedReport:
    """What a seeding run did, to tell the user the truth about it."""

    credentials: list[tuple[str, str]] = field(default_factory=list)
    accounts_created: list[str] = field(default_factory=list)
    accounts_present: list[str] = field(default_factory=list)
    todos_deleted: int = 0
    todos_created: int = 0
    todos_present: int = 0


def seed(**kwargs) -> list[tuple[str, str]]:
    """Create demo accounts and todos (see :func:`plant`); the (username, password) pairs."""
    return plant(**kwargs).credentials


def plant(
    *,
    users: int = 1,
    todos_per_user: int = 5,
    seed: int = 0,
    reset: bool = False,
    password: str = DEMO_PASSWORD,
    on_progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> SeedReport:
    """Create ``users`` demo accounts with ``todos_per_user`` todos each, and say what was done.

    ``reset`` first deletes those accounts' todos. ``on_progress`` is called with the number of
    todos handled (inserted or found already there) after each batch. An account that already
    existed keeps its password: its credentials are reported with ``password`` all the same.
    """
    anchor = now or utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    report = SeedReport()
    collection = Todo._get_collection()
    for username in demo_usernames(users):
        user = User.objects(username_key=username).first()
        if user is None:
            user = create_user(username, password)
            report.accounts_created.append(username)
        else:
            report.accounts_present.append(username)
        report.credentials.append((username, password))
        if reset:
            report.todos_deleted += _delete_all(collection, user.id)
        rng = random.Random(f"{seed}:{username}")
        batch = []
        for index in range(todos_per_user):
            batch.append(_todo(rng, user.id, _todo_id(seed, username, index), anchor))
            if len(batch) == BATCH_SIZE or index == todos_per_user - 1:
                inserted = _insert_new(collection, batch)
                report.todos_created += inserted
                report.todos_present += len(batch) - inserted
                if on_progress:
                    on_progress(len(batch))
                batch = []
    return report


def _delete_all(collection, owner: ObjectId) -> int:
    """Delete ``owner``'s todos, each leaving a tombstone (one sequence number for them all):
    a syncing client hears of the reset."""
    ids = [doc["_id"] for doc in collection.find({"owner": owner}, {"_id": 1})]
    with sequence.stamped(owner) as reservation:
        sequence.tombstone_many(owner, ids, reservation.first)
        return collection.delete_many({"owner": owner, "_id": {"$in": ids}}).deleted_count


def _insert_new(collection, batch: list[dict]) -> int:
    """Insert a batch, skipping todos a previous run already inserted; how many were new.
    One reservation numbers the batch, so the changes feed sees the new todos."""
    with sequence.stamped(batch[0]["owner"], len(batch)) as reservation:
        for offset, todo in enumerate(batch):
            todo["seq"] = reservation.first + offset
        try:
            return len(collection.insert_many(batch, ordered=False).inserted_ids)
        except BulkWriteError as err:
            # a write a majority did not confirm is no known outcome: the lease must stay
            if err.details.get("writeConcernErrors") or any(
                    e.get("code") != 11000 for e in err.details.get("writeErrors", [])):
                raise
            return err.details["nInserted"]
