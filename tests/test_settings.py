"""Settings come from the environment; invalid values stop start-up with a clear message."""

from datetime import timedelta

import pytest

from mongo_todos import ConfigError, create_app
from mongo_todos.settings import from_env


def test_defaults_run_on_a_laptop():
    config = from_env({})
    assert config["MONGODB_URI"] is None and config["EMBEDDED_DB"] is True
    assert len(config["SECRET_KEY"]) >= 32 and config["SECRET_KEY"] != config["JWT_SECRET_KEY"]
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(seconds=900)
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(seconds=2592000)
    assert config["REGISTRATION_OPEN"] is True and config["REQUIRE_IF_MATCH"] is False
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_DEFAULT"] == "300 per minute"
    # the embedded store is for trying things: its login limit does not trip a person
    # following the README; a deployment keeps 10 per minute
    assert config["RATELIMIT_TOKEN"] == "60 per minute"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["TRUSTED_PROXY_COUNT"] == 0
    assert config["MAX_CONTENT_LENGTH"] == 1048576
    assert config["CORS_ORIGINS"] == []
    assert config["LOG_LEVEL"] == "INFO"
    assert config["PASSWORD_HASH_METHOD"] == "scrypt"  # werkzeug's: N 2**15, r 8, p 1
    assert config["PASSWORD_HASH_THREADS"] == 2 and config["PASSWORD_HASH_PRIORITY"] == "idle"


def test_values_are_parsed():
    config = from_env(
        {
            "MONGODB_URI": "mongodb://db:27017/todos",
            "SECRET_KEY": "s" * 32,
            "JWT_SECRET_KEY": "j" * 40,
            "JWT_ACCESS_TOKEN_EXPIRES": "60",
            "REGISTRATION_OPEN": "false",
            "REQUIRE_IF_MATCH": "yes",
            "RATELIMIT_DEFAULT": "5/second",
            "RATELIMIT_STORAGE_URI": "redis://localhost:6379/0",
            "TRUSTED_PROXY_COUNT": "1",
            "CORS_ORIGINS": "https://a.example, http://localhost:3000/",
            "LOG_LEVEL": "debug",
            "PASSWORD_HASH_METHOD": "scrypt:65536:8:2",
            "PASSWORD_HASH_THREADS": "4",
            "PASSWORD_HASH_PRIORITY": "10",
        }
    )
    assert config["PASSWORD_HASH_METHOD"] == "scrypt:65536:8:2"
    assert config["PASSWORD_HASH_THREADS"] == 4 and config["PASSWORD_HASH_PRIORITY"] == 10
    assert from_env({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:600000"})[
        "PASSWORD_HASH_METHOD"] == "pbkdf2:sha256:600000"
    assert config["EMBEDDED_DB"] is False
    assert config["RATELIMIT_TOKEN"] == "10 per minute"  # with a database: the strict default
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(seconds=60)
    assert config["REGISTRATION_OPEN"] is False and config["REQUIRE_IF_MATCH"] is True
    assert config["CORS_ORIGINS"] == ["https://a.example", "http://localhost:3000"]
    assert config["LOG_LEVEL"] == "DEBUG"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"MONGODB_URI": "http://db"}, "MONGODB_URI"),
        # the driver's own wording is not pinned (it changes between releases), only ours
        ({"MONGODB_URI": "mongodb://db:port/x"}, "^MONGODB_URI is not a valid MongoDB URI: "),
        ({"MONGODB_URI": "mongodb://db/x?badopt=1&w=1"},
         r"^MONGODB_URI is not a valid MongoDB URI: unknown option\(s\) badopt$"),
        ({"MONGODB_URI": "mongodb://db"}, "SECRET_KEY is required"),
        ({"SECRET_KEY": "short"}, "at least 32 bytes"),
        ({"JWT_ACCESS_TOKEN_EXPIRES": "soon"}, "JWT_ACCESS_TOKEN_EXPIRES='soon' is not a whole"),
        ({"JWT_REFRESH_TOKEN_EXPIRES": "0"}, "at least 1"),
        ({"REGISTRATION_OPEN": "maybe"}, "REGISTRATION_OPEN='maybe' is not a boolean"),
        ({"RATELIMIT_DEFAULT": "lots"}, "RATELIMIT_DEFAULT='lots' is not a rate limit"),
        ({"RATELIMIT_STORAGE_URI": "memcached://x"}, "RATELIMIT_STORAGE_URI"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "at least 0"),
        ({"MAX_CONTENT_LENGTH": "10"}, "MAX_CONTENT_LENGTH"),
        ({"CORS_ORIGINS": "example.com"}, "CORS_ORIGINS entry 'example.com'"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"SYNC_TOMBSTONE_TTL": "59"}, "SYNC_TOMBSTONE_TTL.*at least 60"),
        ({"SYNC_TOMBSTONES_PER_USER": "-1"}, "SYNC_TOMBSTONES_PER_USER.*at least 0"),
        ({"PASSWORD_HASH_METHOD": "md5"}, "PASSWORD_HASH_METHOD='md5' is not scrypt"),
        ({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}, r"at least 100000\)$"),
        ({"PASSWORD_HASH_METHOD": "scrypt:30000:8:1"}, "N a power of two"),
        ({"PASSWORD_HASH_METHOD": "scrypt:1048576:8:1"}, "256 MiB a hash"),  # 1 GiB
        ({"PASSWORD_HASH_THREADS": "0"}, "PASSWORD_HASH_THREADS.*at least 1"),
        ({"PASSWORD_HASH_PRIORITY": "20"}, "PASSWORD_HASH_PRIORITY='20' is not idle or a "),
        ({"PASSWORD_HASH_PRIORITY": "-5"}, "PASSWORD_HASH_PRIORITY='-5' is not idle or a "),
    ],
)
def test_invalid_values_stop_start_up(env, message):
    with pytest.raises(ConfigError, match=message):
        create_app(env=env)


def test_embedded_store_says_data_lives_in_memory(caplog):
    create_app(env={})
    assert "Data lives only in this process" in caplog.text


@pytest.mark.parametrize("command", [["-c", "import mongo_todos.wsgi"], ["-m", "mongo_todos"]])
def test_entry_points_stop_with_one_clear_line(command):
    import subprocess
    import sys

    from tests.support.servers import free_port

    result = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=60,
        # a free PORT: 5000 (the default) may be taken, and the port is checked first
        env={"PATH": "/usr/bin:/bin", "MONGODB_URI": "mongodb://db:27017/x",
             "PORT": str(free_port())},
    )
    assert result.returncode != 0
    assert "mongo_todos: invalid setting: SECRET_KEY is required when MONGODB_URI is set" in result.stderr
    assert "Traceback" not in result.stderr
