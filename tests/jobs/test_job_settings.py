"""The jobs' settings: defaults as the contract says, and a bad value stops the start-up."""

from __future__ import annotations

import pytest

from mongo_todos.settings import ConfigError, from_env


def test_defaults():
    config = from_env({}, quiet=True)
    assert (config["JOBS_PER_USER"], config["EXPORT_TTL"], config["IMPORT_MAX_BYTES"]) == (
        3, 86400, 16 * 1024 * 1024)


@pytest.mark.parametrize("name,value", [
    ("JOBS_PER_USER", "0"), ("JOBS_PER_USER", "many"), ("EXPORT_TTL", "59"),
    ("EXPORT_TTL", "1.5"), ("IMPORT_MAX_BYTES", "100"), ("IMPORT_MAX_BYTES", "16M"),
])
def test_a_bad_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        from_env({name: value}, quiet=True)


def test_import_max_bytes_is_bounded_by_the_line_ids():
    from mongo_todos.settings import IMPORT_MAX_BYTES_LIMIT

    assert from_env({"IMPORT_MAX_BYTES": str(IMPORT_MAX_BYTES_LIMIT)}, quiet=True)[
        "IMPORT_MAX_BYTES"] == IMPORT_MAX_BYTES_LIMIT
    with pytest.raises(ConfigError, match=r"IMPORT_MAX_BYTES=16777217 is more than 16777216 "
                                          r"\(16 MiB\).*line number in 3 bytes"):
        from_env({"IMPORT_MAX_BYTES": "16777217"}, quiet=True)


def test_no_valid_line_of_the_largest_body_overflows_its_id():
    from bson import ObjectId

    from mongo_todos.jobs.imports import MAX_LINE, SHORTEST_TODO, check, items, line_id
    from mongo_todos.settings import IMPORT_MAX_BYTES_LIMIT
    from mongo_todos.todos.schemas import TodoInSchema

    shortest = b'{"name":"x"}'
    assert len(shortest) == SHORTEST_TODO
    (_, value), = items(shortest, "application/x-ndjson")
    data, errors = check(TodoInSchema(), value)  # a valid todo: it gets an id
    assert errors is None and data["name"] == "x"
    # the latest a valid line can come: every byte before it a line break
    last_line = IMPORT_MAX_BYTES_LIMIT - SHORTEST_TODO + 1
    assert last_line <= MAX_LINE
    job = ObjectId()
    assert line_id(job, MAX_LINE).binary[-3:] == b"\xff\xff\xff"
    assert line_id(job, 1) < line_id(job, last_line)  # a job's todos sort by line
    with pytest.raises(OverflowError):
        line_id(job, MAX_LINE + 1)
