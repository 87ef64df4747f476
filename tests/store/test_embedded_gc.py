"""The embedded store's process freezes what survives each full collection, so the
collector's pause stops growing with the store, and thaws now and then, so a reference cycle
that died after a freeze is still collected (mongo_todos.store.embedded_gc)."""

import json
import subprocess
import sys

from gunicorn.workers.ggevent import GeventWorker

from mongo_todos.store import embedded_gc
from mongo_todos.web import gunicorn_workers
from tests.support.servers import ROOT


def test_the_freezer_freezes_after_full_collections_and_thaws_every_nth(monkeypatch):
    calls = []
    monkeypatch.setattr(embedded_gc.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(embedded_gc.gc, "unfreeze", lambda: calls.append("unfreeze"))
    freezer = embedded_gc.SurvivorFreezer(thaw_every=3)
    for generation in (0, 1, 2):
        freezer("start", {"generation": generation})
    freezer("stop", {"generation": 0})
    freezer("stop", {"generation": 1})
    assert calls == []  # only the end of a full collection counts
    for _ in range(6):
        freezer("stop", {"generation": 2})
    assert calls == ["freeze", "freeze", "unfreeze", "freeze", "freeze", "unfreeze"]


SCRIPT = """
import gc, json, weakref
from mongo_todos.store import embedded_gc

gc.disable()  # only the collections below: their count decides freezes and thaws
freezer = embedded_gc.install(thaw_every=3)
assert embedded_gc.install() is freezer  # once

class Node:
    pass

store = [{"n": i, "tags": [i]} for i in range(50_000)]  # long-lived, as stored todos are
cycle = Node()
cycle.me = cycle  # alive at the freeze, dead after it
dead = weakref.ref(cycle)
gc.collect()  # full collection 1: survivors frozen
frozen = gc.get_freeze_count()
del cycle
gc.collect()  # 2: the cycle is frozen, so not collected; freeze again
kept = dead() is not None
gc.collect()  # 3: thaw
gc.collect()  # 4: walks everything once: the cycle goes
print(json.dumps({"frozen": frozen, "kept_while_frozen": kept,
                  "collected_after_thaw": dead() is None, "store": len(store)}))
"""


def test_survivors_are_frozen_and_a_dead_cycle_goes_at_the_next_thaw():
    # in a process of its own: freezing pytest's heap would keep other tests' cycles
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["frozen"] > 100_000  # the store's dicts and lists, and the rest
    assert report["kept_while_frozen"] is True
    assert report["collected_after_thaw"] is True


def test_the_embedded_stores_worker_installs_it_and_a_mongodb_worker_does_not(monkeypatch):
    installed = []
    monkeypatch.setattr(embedded_gc, "install", lambda: installed.append(True))
    monkeypatch.setattr(GeventWorker, "init_process", lambda self: None)
    worker = object.__new__(gunicorn_workers.CappedGeventWorker)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    worker.init_process()
    assert installed == [True]
    monkeypatch.setenv("MONGODB_URI", "mongodb://db:27017/todos")
    worker.init_process()
    assert installed == [True]
