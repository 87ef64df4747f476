"""MongoEngine documents: the schema of what is stored, and the indexes that serve it.

Indexes are declared here and created by ``flask --app mongo_todos db init`` (once per deploy,
idempotent) or at start-up on the embedded store, never lazily on a request
(``auto_create_index`` is off).

The classes below are the schema on paper more than the path of every write: the hot writes
(todos, sessions, revoked token families, idempotency records; an account's password change
and deletion too) go to the collection directly (``Document._get_collection()``) with pymongo
calls, bypassing MongoEngine's document construction and validation. That is for speed: each
document built and validated costs per request (the ``to_mongo`` conversions and validation
were a measurable share of a create: a raw insert took 90-105 µs against 340-420 µs for
``Todo(...).save()``, in a create of about 1.2 ms; docs/benchmarks.md). What guards the data instead:
the marshmallow schemas at the edge (accounts/schemas.py, todos/schemas.py and the views'
argument schemas) validate every field a client sends before anything is written, and the
indexes declared here hold the invariants a client could race (unique usernames, one record
per ``_id``, TTL expiry). The modules that write this way: todos/store.py (todos),
todos/idempotency.py (idempotency records), todos/search.py (search keys), accounts/sessions.py and accounts/auth.py (sessions,
revocations), accounts/users.py (password changes, deletions), seed.py (bulk inserts) and
cli/commands.py (``db init``, session counts). Accounts are still created through
:class:`User`: a rare write, already dominated by its password hash.
"""

from __future__ import annotations

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    IntField,
    ListField,
    ObjectIdField,
    StringField,
)

from mongo_todos.dates import FAR_FUTURE, utcnow

#: The sorts a todo list offers: API name -> stored field that serves it.
SORT_FIELDS = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_at": "due_sort",
    "name": "name_key",
}


#: The index behind the todos' shard key ``{owner: "hashed", _id: 1}``; a new name, since the
#: former ``owner_hashed`` (``{owner: "hashed"}`` alone) has other keys.
SHARD_KEY_INDEX = "owner_hashed_id"


#: The ``(owner, seq, _id)`` index of todos and tombstones: the changes feed's ranges.
SEQ_INDEX = "owner_seq_id"


def index_name(key: str) -> str:
    """The name of the ``(owner, key, _id)`` index that serves the sort on stored field ``key``."""
    return f"owner_{key}_id"


def index_keys(key: str) -> dict[str, int]:
    """The key pattern of the ``(owner, key, _id)`` index: pages hint by it, not by
    :func:`index_name`, because /readyz accepts an index with these keys under another name
    (one an operator made by hand), and a hint by name would fail every list there."""
    return {"owner": 1, key: 1, "_id": 1}


#: Documents carrying it are removed by MongoDB's TTL monitor once ``expires_at`` has passed.
EXPIRES_AT_TTL = {"fields": ["expires_at"], "expireAfterSeconds": 0}


class User(Document):
    """An account. ``username_key`` makes usernames unique case-insensitively.

    ``deleted_at`` is set when a deletion starts: logins are refused from then on, and a retry
    of an interrupted deletion finishes the job (see :func:`mongo_todos.accounts.users.delete_account`).
    """

    username = StringField(required=True, max_length=32)
    username_key = StringField(required=True, max_length=32)
    password_hash = StringField(required=True)
    created_at = DateTimeField(required=True, default=utcnow)
    password_changed_at = DateTimeField(null=True)
    deleted_at = DateTimeField(null=True)

    meta = {
        "collection": "users",
        "auto_create_index": False,
        "indexes": [{"fields": ["username_key"], "unique": True}],
    }


class Todo(Document):
    """A todo of one owner.

    Two stored keys exist only to let an index serve a sort: ``due_sort`` is ``due_at``, or
    a date after any real one when there is none (so undated todos sort as due infinitely far
    in the future and the keyset bound never compares against null), and ``name_key`` is the
    case-folded name (names sort case-insensitively without collation support). ``name_key``
    and ``task_key`` (the case-folded task) are also what ``q`` searches, without the regex
    ``i`` flag (see :mod:`mongo_todos.todos.search`). ``version``
    grows on every write; the ETag is made from it and conditional writes filter on it.
    """

    owner = ObjectIdField(required=True)
    name = StringField(required=True, min_length=1, max_length=200)
    name_key = StringField(required=True)
    task = StringField(default="", max_length=10000)
    task_key = StringField(default="")
    done = BooleanField(default=False)
    due_at = DateTimeField(null=True)
    due_sort = DateTimeField(required=True, default=FAR_FUTURE)
    tags = ListField(StringField(min_length=1, max_length=50), max_length=20)
    created_at = DateTimeField(required=True)
    updated_at = DateTimeField(required=True)
    version = IntField(required=True, default=1)
    #: the account's change sequence at this todo's last write (mongo_todos.todos.sequence)
    seq = IntField()

    meta = {
        "collection": "todos",
        "auto_create_index": False,
        # one (owner, key, _id) index per sort: every page is an index range scan, both ways;
        # and the shard key's index: todos shard on a hashed owner then _id, so new users
        # spread over all shards and every todo query and write (each carries owner) is routed
        # to that owner's chunks; _id lets one user's todos split into several chunks (on
        # the hashed owner alone they were one unsplittable chunk, ~600 MB at the quota)
        "indexes": [
            *({"fields": ["owner", key, "_id"], "name": index_name(key)}
              for key in SORT_FIELDS.values()),
            {"fields": ["#owner", "_id"], "name": SHARD_KEY_INDEX},
            # the changes feed: what changed after a sequence number is one range of it
            {"fields": ["owner", "seq", "_id"], "name": SEQ_INDEX},
        ],
    }


class Session(Document):
    """One login (a token *family*): where it started and which refresh token is current.

    The id is the family id every token of the login carries (claim ``fam``). Rotation is one
    atomic conditional ``update_one`` on ``current_jti``: of two refreshes presenting the same
    token, exactly one rotates it. ``previous_jti`` and ``issued_at`` let a refresh token
    presented again within the reuse leeway get the very pair its first use produced (the
    JWTs are rebuilt from these claims, byte for byte; no token is stored). The document is
    deleted when the login ends, so the account's documents are its active sessions;
    ``expires_at`` (the refresh token's expiry, capped by the session's maximum age) lets
    MongoDB remove abandoned ones.
    """

    id = StringField(primary_key=True)
    user = ObjectIdField(required=True)
    started_at = DateTimeField(required=True)
    last_refreshed_at = DateTimeField(null=True)
    user_agent = StringField(default="", max_length=512)
    address = StringField(default="", max_length=64)
    current_jti = StringField(required=True)
    access_jti = StringField(required=True)
    previous_jti = StringField(null=True)
    issued_at = IntField(required=True)  # seconds since the epoch: the current pair's iat
    ends_at = IntField(required=True)  # seconds since the epoch: SESSION_MAX_AGE after login
    expires_at = DateTimeField(required=True)

    meta = {
        "collection": "sessions",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["user", "started_at"]},  # the account's sessions, oldest first
            {**EXPIRES_AT_TTL},  # a copy each: MongoEngine normalises specs in place
        ],
    }


class RevokedFamily(Document):
    """A record of an ended login (tokens are refused because its Session document is gone:
    authentication looks for the session, so a wiped store ends every token too).

    The record outlives every token of the family (it expires with the longest refresh
    lifetime), then MongoDB's TTL monitor removes it.
    """

    family = StringField(primary_key=True)
    expires_at = DateTimeField(required=True)

    meta = {
        "collection": "revoked_families",
        "auto_create_index": False,
        "indexes": [{**EXPIRES_AT_TTL}],  # a copy each: MongoEngine normalises specs in place
    }


class IdempotencyRecord(Document):
    """A ``POST /todos`` that carried an ``Idempotency-Key``.

    The record is written before the todo, with the todo's id chosen up front, so every retry
    of the request (even one racing the first) creates that same todo or finds it; once the todo
    exists, ``response`` holds the representation to replay. Records expire after a day.
    """

    key = StringField(primary_key=True)  # "<owner id>:<client's key>"
    fingerprint = StringField(required=True)
    todo_id = ObjectIdField(required=True)
    response = DictField()
    expires_at = DateTimeField(required=True)

    meta = {
        "collection": "idempotency_keys",
        "auto_create_index": False,
        "indexes": [{**EXPIRES_AT_TTL}],  # a copy each: MongoEngine normalises specs in place
    }


class SyncCounter(Document):
    """An account's change sequence: the last number handed out (``seq``) and the
    reservations not yet released (``leases``: tag -> ``{"s": a lower bound of the first
    number, "n": count, "until": lease end}``; ``inflight``, a list of the same, is how 1.2.0
    wrote them), and ``forgotten``: the newest number whose tombstones the cap removed
    (SYNC_TOMBSTONES_PER_USER; a token below it is a 410). The changes feed reads only below
    the oldest live lease (mongo_todos.todos.sequence explains why). One small document per
    account, keyed by it."""

    id = ObjectIdField(primary_key=True)  # the owner
    seq = IntField(required=True, default=0)
    leases = DictField()
    inflight = ListField(DictField())

    meta = {"collection": "sync_counters", "auto_create_index": False}


class Tombstone(Document):
    """A deleted todo, remembered for the changes feed and the 410 of ``todo-deleted``: its
    id, owner, the sequence number of its deletion and when; removed by TTL (``expires_at``:
    SYNC_TOMBSTONE_TTL after the deletion, plus a margin; docs/sync.md)."""

    id = ObjectIdField(primary_key=True)  # the deleted todo's id
    owner = ObjectIdField(required=True)
    seq = IntField(required=True)
    deleted_at = DateTimeField(required=True)
    expires_at = DateTimeField(required=True)

    meta = {
        "collection": "todo_tombstones",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["owner", "seq", "_id"], "name": SEQ_INDEX},
            {**EXPIRES_AT_TTL},  # a copy each: MongoEngine normalises specs in place
        ],
    }


class Job(Document):
    """A background job of one owner: an export, an import or a bulk change (mongo_todos.jobs).

    Written and read through the raw collection by ``jobs/store.py``; every query carries the
    owner (the shard key's prefix). ``heartbeat_at`` moves with every batch, so a ``running``
    job whose heartbeat stopped lost its worker; ``attempts`` bounds how often it is run again.
    A job expires (TTL) ``EXPORT_TTL`` after it finishes, with its export file.
    """

    owner = ObjectIdField(required=True)
    kind = StringField(required=True, choices=("export", "import", "bulk"))
    status = StringField(required=True)
    params = DictField()
    progress = DictField()
    result = DictField(null=True)
    error = DictField(null=True)
    partial = DictField()  # counts so far: a re-run resumes from them
    created_at = DateTimeField(required=True)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    heartbeat_at = DateTimeField(null=True)
    attempts = IntField(default=0)
    expires_at = DateTimeField(required=True)

    meta = {
        "collection": "jobs",
        "auto_create_index": False,
        "indexes": [
            # the caller's jobs, newest first (cursor pages, as the todos' created_at sort)
            {"fields": ["owner", "created_at", "_id"], "name": index_name("created_at")},
            {"fields": ["owner", "status"], "name": "owner_status"},  # limit and stale sweep
            {**EXPIRES_AT_TTL},  # a copy each: MongoEngine normalises specs in place
        ],
    }


DOCUMENTS = (User, Todo, Session, RevokedFamily, IdempotencyRecord, SyncCounter, Tombstone, Job)

#: What MongoDB itself refuses in ``todos``: a todo without its sort keys or search keys would
#: drop out of pages and searches unseen, and the writes bypass MongoEngine (module docstring).
TODO_VALIDATOR = {"$jsonSchema": {
    "bsonType": "object",
    "required": ["owner", "name", "name_key", "task_key", "created_at", "updated_at",
                 "due_sort", "version"],
    "properties": {
        "owner": {"bsonType": "objectId"},
        "name": {"bsonType": "string"}, "name_key": {"bsonType": "string"},
        "task": {"bsonType": "string"}, "task_key": {"bsonType": "string"},
        "done": {"bsonType": "bool"},
        "due_at": {"bsonType": ["date", "null"]}, "due_sort": {"bsonType": "date"},
        "tags": {"bsonType": "array", "items": {"bsonType": "string"}},
        "created_at": {"bsonType": "date"}, "updated_at": {"bsonType": "date"},
        "version": {"bsonType": ["int", "long"]},
        "seq": {"bsonType": ["int", "long"]},
    },
}}


def apply_validators(database) -> dict:
    """Set the todos' validator on a real MongoDB (``collMod``; idempotent); the command sent.

    "moderate": inserts and updates of valid todos are checked, while a todo an older version
    stored without some key can still be updated (and so repaired) rather than every write to
    it failing; "error": a write that breaks the schema is refused, not only logged.
    """
    command = {"collMod": Todo._get_collection_name(), "validator": TODO_VALIDATOR,
               "validationLevel": "moderate", "validationAction": "error"}
    database.command(command)
    return command


def create_indexes() -> None:
    """Create every declared index (idempotent: existing indexes are left as they are)."""
    for document in DOCUMENTS:
        document.ensure_indexes()
