"""The limiter's in-process storage: no thread per request, the same counts and limits, and
expired counters still freed."""

import time

import limits.storage.memory
import pytest

from mongo_todos.web.ratelimit_storage import SWEEP_INTERVAL, InlineExpiryStorage


@pytest.fixture
def timers(monkeypatch):
    """Count the timer threads the memory storage starts."""
    started = []
    original = limits.storage.memory.threading.Timer

    class Counted(original):
        def start(self):
            started.append(self)
            super().start()
    monkeypatch.setattr(limits.storage.memory.threading, "Timer", Counted)
    return started


def test_requests_start_no_thread_and_the_limit_still_holds(make_app, timers):
    app = make_app(env={"RATELIMIT_ENABLED": "true", "RATELIMIT_DEFAULT": "30 per minute"})
    limiter = app.extensions["mongo_todos_limiter"]
    assert type(limiter.storage) is InlineExpiryStorage
    client = app.test_client()
    timers.clear()  # the one the storage's constructor started (and which was cancelled)
    statuses = [client.get("/api/v1/todos").status_code for _ in range(31)]
    assert statuses == [401] * 30 + [429]
    assert timers == []
    assert list(limiter.storage.storage.values()) == [31]  # every request counted


def test_the_in_memory_fallback_uses_it_too(make_app):
    app = make_app(env={"RATELIMIT_ENABLED": "true",
                        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    assert type(app.extensions["mongo_todos_limiter"]._fallback_storage) is InlineExpiryStorage


def test_expired_counters_are_swept_inline_at_most_once_per_interval(monkeypatch):
    # the sweep's clock stands still: on a busy machine a second can pass between two lines
    import types

    from mongo_todos.web import ratelimit_storage as limiter_storage

    now = 1000.0
    monkeypatch.setattr(limiter_storage, "time", types.SimpleNamespace(monotonic=lambda: now))
    storage = InlineExpiryStorage()
    storage.timer.cancel()
    storage.incr("old", 60)
    storage.incr("fresh", 60)
    storage.expirations["old"] = time.time() - 1  # its window is over
    storage._next_sweep = 0
    assert storage.incr("fresh", 60) == 2
    assert "old" not in storage.storage and "old" not in storage.expirations
    # the next sweep waits for the interval: a counter expiring now stays stored until then
    storage.expirations["fresh"] = time.time() - 1
    storage.incr("other", 60)
    assert "fresh" in storage.storage
    assert storage.get("fresh") == 0  # but already reads as expired (the library's own check)
    assert storage._next_sweep == now + SWEEP_INTERVAL
