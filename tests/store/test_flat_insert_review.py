"""A review of the embedded store's one-pass insert of flat documents
(mongo_todos.store.embedded_insert._flat_stored) and of its memo of unique indexes: each
document at an edge of what BSON and mongomock accept is inserted into plain mongomock and
into the embedded store, which must store the same copy (types included), fill the caller's
``_id`` alike, or fail with the same error."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from enum import IntEnum

import mongomock
import pytest
from bson import ObjectId
from pymongo import IndexModel

from mongo_todos.store import embedded_insert
from mongo_todos.store.embedded import EmbeddedClient

ID = ObjectId("a" * 24)


class _Date(datetime):
    pass


class _Text(str):
    pass


class _Small(IntEnum):
    ONE = 1


EDGES = [
    {"v": 2 ** 63 - 1}, {"v": -(2 ** 63)}, {"v": 2 ** 63}, {"v": -(2 ** 63) - 1},
    {"v": True}, {"v": False}, {"v": float("nan")}, {"v": -0.0}, {"v": float("inf")},
    {"v": None}, {"v": ID},
    {"v": "\ud800"}, {"v": "é\udc80"}, {"v": "a\0b"}, {"v": "é"}, {"v": "x" * (1 << 16)},
    {"v": "x" * ((1 << 16) + 1)}, {"v": _Text("s")}, {"v": _Small.ONE}, {"v": b"x"},
    {"v": datetime(2030, 1, 1, 0, 0, 0, 1500)}, {"v": datetime(2030, 1, 1, 0, 0, 0, 1000)},
    {"v": datetime(2030, 1, 1, 0, 0, 0, 1500, fold=1)}, {"v": datetime.max},
    {"v": _Date(2030, 1, 1, 0, 0, 0, 1500)},
    {"v": datetime(2030, 1, 1, 0, 0, 0, 1500, tzinfo=timezone(timedelta(hours=2)))},
    {"a.b": 1}, {"a$b": 1}, {"": 1}, {"$a": 1}, {"a\0": 1}, {1: 2}, {"é": 1},
    {"\ud800": 1}, {"k\udc80": "v"},  # a key BSON cannot encode (a lone surrogate)
    {"_id": None}, {"_id": 2 ** 63}, {"_id": datetime(2030, 1, 1, 0, 0, 0, 1500)},
]


def _insert(collection, document: dict):
    given = copy.deepcopy(document)
    try:
        inserted = collection.insert_one(given).inserted_id
    except Exception as error:  # noqa: BLE001 - compared, not swallowed
        return ("raised", type(error).__name__, repr(given))
    return repr(inserted), repr(list(collection.find())), repr(given)


@pytest.mark.parametrize("document", [{"_id": ID, **d} if "_id" not in d else d for d in EDGES],
                         ids=[repr(d)[:40] for d in EDGES])
def test_a_flat_insert_stores_or_refuses_what_mongomock_does(document):
    expected = _insert(mongomock.MongoClient().db.t, document)
    assert _insert(EmbeddedClient().db.t, document) == expected


def test_the_one_pass_leaves_keys_bson_cannot_encode_to_bson():
    assert embedded_insert._flat_stored({"\ud800": 1}) is None
    assert embedded_insert._flat_stored({"é": 1}) == {"é": 1}


def _index_story(db) -> list[str]:
    """Inserts between every way a unique index comes or goes: what each answered."""
    answers = []
    collection = db.t

    def insert(document):
        try:
            collection.insert_one(dict(document))
            answers.append("ok")
        except Exception as error:  # noqa: BLE001 - compared, not swallowed
            answers.append(type(error).__name__)

    insert({"n": 1})  # no unique index yet: remembered as such
    collection.create_index([("n", 1)], unique=True, name="u")
    insert({"n": 1})
    collection.drop_index("u")
    insert({"n": 1})
    collection.delete_many({"n": 1})
    collection.create_indexes([IndexModel([("n", 1)], unique=True, name="u2")])
    insert({"n": 2})
    insert({"n": 2})
    collection.drop_indexes()
    insert({"n": 2})
    collection.drop()
    collection.create_index([("m", 1)], unique=True)
    insert({"m": 5})
    insert({"m": 5})
    db.drop_collection("t")
    collection = db.t
    insert({"m": 5})  # no unique index left: remembered as such
    collection.create_index([("m", 1)], unique=True)
    insert({"m": 5})
    return answers


def test_the_unique_index_memo_follows_every_index_change():
    expected = _index_story(mongomock.MongoClient().db)
    assert expected == ["ok", "DuplicateKeyError", "ok", "ok", "DuplicateKeyError", "ok", "ok",
                        "DuplicateKeyError", "ok", "DuplicateKeyError"]
    assert _index_story(EmbeddedClient().db) == expected
