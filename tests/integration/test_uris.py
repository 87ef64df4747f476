"""The integration suite's own helpers, which must work before a real server is ever met."""

import pytest

from tests.integration.uris import with_database


@pytest.mark.parametrize("uri, expected", [
    ("mongodb://mongo:27017/mongo_todos_integration",
     "mongodb://mongo:27017/t1"),
    ("mongodb://u:p@mongo:27017/app?replicaSet=rs0",
     "mongodb://u:p@mongo:27017/t1?replicaSet=rs0&authSource=app"),
    ("mongodb://u:p@mongo:27017/?w=majority",
     "mongodb://u:p@mongo:27017/t1?w=majority&authSource=admin"),
    ("mongodb://u:p@mongo:27017/app?authSource=users",
     "mongodb://u:p@mongo:27017/t1?authSource=users"),
    ("mongodb+srv://u:p@cluster.example.net/app",
     "mongodb+srv://u:p@cluster.example.net/t1"),  # the TXT record names it, if anyone
])
def test_the_test_database_uri_keeps_the_authentication_database(uri, expected):
    assert with_database(uri, "t1") == expected
