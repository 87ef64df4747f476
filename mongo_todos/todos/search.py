"""The ``q`` search: a literal, case-insensitive substring of a todo's name or task.

Case-insensitivity comes from the data, not from the regex engine. Every todo stores
case-folded copies of its text (``name_key``, which also serves the name sort, and
``task_key``), and ``q`` is case-folded the same way, then matched as an escaped literal
*without* the ``i`` flag. Two reasons:

- **Same answer on both stores.** With ``i``, mongomock asks Python's ``re`` and MongoDB asks
  PCRE, and they disagree on some characters (Python's ``re`` matches ``ı``, dotless i, to
  ``i``; PCRE does not). A match of code points, after one Python
  ``str.casefold`` done by this service, is the same everywhere. Full case folding also makes
  ``strasse`` find ``Straße``.
- **Bounded cost.** A fully literal pattern without ``IGNORECASE`` is compiled by Python's
  ``re`` to a literal-prefix search (a KMP-style scan with an overlap table): linear in the
  text whatever the pattern. With ``IGNORECASE`` the same pattern is tried at every position,
  so ``q`` = 199 ``a`` then ``b`` against a task of 10,000 ``a`` costs ~2 million steps per todo
  (measured: 2.3 s for 300 such todos, against 0.04 s for a plain ``q``). MongoDB's PCRE has no
  such guarantee for any pattern (it tries each start position; its "required character"
  check makes the reproduction fail fast, but an adversarial text can still cost
  ``len(text) x len(q)`` = 2 million steps per todo at most): there, the per-request time
  budget (``MONGODB_REQUEST_TIMEOUT``) bounds a search.

Documents stored before ``task_key`` existed are given it by ``flask --app mongo_todos db init``
(:func:`backfill`, idempotent, and reading no todo once it has finished).
"""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

#: The collection of finished one-off data migrations, one document each (``_id``: its name).
MIGRATIONS = "migrations"
#: The record :func:`backfill` leaves once no todo lacks ``task_key``.
TASK_KEY_BACKFILL = "todos.task_key"


def fold(text: str) -> str:
    """The stored, case-folded form of ``text`` (full Unicode case folding)."""
    return text.casefold()


def literal(text: str) -> str:
    """``text`` as a regex matching only itself, in both PCRE (MongoDB) and Python (mongomock):
    every ASCII character that is not a letter or digit is escaped (an escaped punctuation
    character is a literal in both; other characters are literals already)."""
    return "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in text)


def search_match(q: str) -> dict:
    """The filter for todos whose name or task contains ``q``, ignoring case."""
    # no "$options": "i", on purpose (see the module docstring)
    pattern = {"$regex": literal(fold(q))}
    return {"$or": [{"name_key": pattern}, {"task_key": pattern}]}


def backfill(collection, batch: int = 500) -> int:
    """Give every todo that lacks it its ``task_key``; the number of todos updated.

    Idempotent: only documents without ``task_key`` are touched, so a second run updates
    nothing. Each update is conditional on the task it was computed from, so a todo whose task
    is edited meanwhile keeps the key that edit stored. (``name_key`` has been stored with every
    todo from the start: it serves the name sort.)

    No index covers a missing ``task_key``, so even a query for the todos lacking it examines
    every todo: on every start (the image runs ``db init``) that was a scan of the whole
    collection. A run that finds none left records so in :data:`MIGRATIONS`, and later runs
    read that one document instead. (Every version since ``task_key`` exists writes it with
    each todo, so no todo can lack it afterwards.)
    """
    done = collection.database[MIGRATIONS]
    if done.find_one({"_id": TASK_KEY_BACKFILL}) is not None:
        return 0
    updated = 0
    while True:
        docs = list(collection.find({"task_key": {"$exists": False}},
                                    {"owner": 1, "task": 1}).limit(batch))
        if not docs:
            try:
                done.insert_one({"_id": TASK_KEY_BACKFILL})
            except DuplicateKeyError:  # another instance's db init finished it too
                pass
            return updated
        changed = 0
        # one update each: mongomock's bulk_write does not take pymongo 4.20's UpdateOne
        for doc in docs:
            result = collection.update_one(
                # owner too: every todo write carries the shard key
                {"_id": doc["_id"], "owner": doc["owner"], "task": doc.get("task"),
                 "task_key": {"$exists": False}},
                {"$set": {"task_key": fold(doc.get("task") or "")}},
            )
            changed += result.modified_count
        updated += changed
        if not changed:  # every one was edited meanwhile, and so keyed: nothing is left
            return updated
