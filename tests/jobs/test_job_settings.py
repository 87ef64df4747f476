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
