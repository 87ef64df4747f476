"""Password hashes run in a few native threads of their own, at a low CPU priority
(mongo_todos.web.offload): under gevent other greenlets (other requests) go on meanwhile (run
in place, as before round 2, a hash stopped them all for its whole length); only those threads
are niced, never the worker's own; and no more hashes run at once than the setting says."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from flask import Flask

from mongo_todos.web import offload
from mongo_todos.web.offload import off_hub
from tests.support.servers import ROOT

SCRIPT = """
from gevent import monkey
monkey.patch_all()
import json, os, sys, threading
import gevent
from werkzeug.security import generate_password_hash
from mongo_todos.web.offload import off_hub

ticks = []

def ticker():
    while True:
        ticks.append(1)
        gevent.sleep(0.001)

gevent.spawn(ticker)
gevent.sleep(0.01)
counts = {}
for name, run in (("in_place", lambda f, *a: f(*a)), ("off_hub", off_hub)):
    before = len(ticks)
    digest = run(generate_password_hash, "a password", "scrypt")
    assert digest.startswith("scrypt:"), digest
    counts[name] = len(ticks) - before

def niceness():  # every thread of this process: its id and its niceness
    out = {}
    for tid in os.listdir("/proc/self/task"):
        fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        out[int(tid)] = int(fields[16])
    return out

hasher = off_hub(threading.get_native_id)
print(json.dumps({"counts": counts, "main": threading.get_native_id(), "hasher": hasher,
                  "niceness": niceness()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_under_gevent_a_hash_lets_other_greenlets_run_in_a_niced_thread_of_its_own():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["counts"]["in_place"] == 0  # the hub never ran while the hash held it
    assert report["counts"]["off_hub"] > 0
    niceness = {int(tid): nice for tid, nice in report["niceness"].items()}
    assert report["hasher"] != report["main"]
    assert niceness[report["hasher"]] == offload.DEFAULT_NICE
    assert niceness[report["main"]] == 0  # the worker's own thread keeps its priority
    assert sorted(niceness.values()).count(offload.DEFAULT_NICE) == 1


def _app(threads: int, nice: int) -> Flask:
    app = Flask(__name__)
    app.config.update(PASSWORD_HASH_THREADS=threads, PASSWORD_HASH_NICE=nice)
    return app


def test_outside_gevent_the_call_runs_in_a_hash_thread_and_returns_its_result():
    with _app(2, 0).app_context():
        assert off_hub(lambda a, b: (a, b), 1, 2) == (1, 2)
        assert off_hub(threading.get_native_id) != threading.get_native_id()
        with pytest.raises(ZeroDivisionError):  # the caller gets the hash's error
            off_hub(lambda: 1 / 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness")
def test_the_hash_threads_run_at_the_configured_niceness():
    with _app(3, 7).app_context():
        thread, nice = off_hub(lambda: (threading.get_native_id(), os.getpriority(
            os.PRIO_PROCESS, threading.get_native_id())))
    assert thread != threading.get_native_id() and nice == 7
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_no_more_hashes_run_at_once_than_password_hash_threads(threads):
    running, most, lock = [0], [0], threading.Lock()

    def hash_like():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    app = _app(threads, 0)

    def login():
        with app.app_context():
            off_hub(hash_like)

    callers = [threading.Thread(target=login) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10)
    assert most[0] == threads
