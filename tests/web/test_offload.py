"""Password hashes run in a few native threads of their own, at a low CPU priority
(mongo_todos.web.offload): under gevent other greenlets (other requests) go on meanwhile (run
in place, as before round 2, a hash stopped them all for its whole length); only those threads
are lowered (SCHED_IDLE, or a niceness), never the worker's own; and no more hashes run at once
than the setting says."""

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

def policies():  # every thread of this process: its id and its scheduling policy
    out = {}
    for tid in os.listdir("/proc/self/task"):
        fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        out[int(tid)] = int(fields[38])  # field 41 of stat: the policy (5: SCHED_IDLE)
    return out

hasher = off_hub(threading.get_native_id)
print(json.dumps({"counts": counts, "main": threading.get_native_id(), "hasher": hasher,
                  "policies": policies()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_under_gevent_a_hash_lets_other_greenlets_run_in_an_idle_thread_of_its_own():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["counts"]["in_place"] == 0  # the hub never ran while the hash held it
    assert report["counts"]["off_hub"] > 0
    policies = {int(tid): policy for tid, policy in report["policies"].items()}
    assert report["hasher"] != report["main"] and offload.DEFAULT_PRIORITY == "idle"
    assert policies[report["hasher"]] == os.SCHED_IDLE
    assert policies[report["main"]] == os.SCHED_OTHER  # the worker's own thread keeps its
    assert list(policies.values()).count(os.SCHED_IDLE) == 1


def _app(threads: int, priority: str | int) -> Flask:
    app = Flask(__name__)
    app.config.update(PASSWORD_HASH_THREADS=threads, PASSWORD_HASH_PRIORITY=priority)
    return app


def test_outside_gevent_the_call_runs_in_a_hash_thread_and_returns_its_result():
    with _app(2, 0).app_context():
        assert off_hub(lambda a, b: (a, b), 1, 2) == (1, 2)
        assert off_hub(threading.get_native_id) != threading.get_native_id()
        with pytest.raises(ZeroDivisionError):  # the caller gets the hash's error
            off_hub(lambda: 1 / 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness")
def test_the_hash_threads_run_at_the_configured_priority():
    def priority():
        thread = threading.get_native_id()
        return thread, os.sched_getscheduler(thread), os.getpriority(os.PRIO_PROCESS, thread)

    with _app(3, 7).app_context():
        niced = off_hub(priority)
    with _app(3, "idle").app_context():
        idle = off_hub(priority)
    with _app(3, 0).app_context():
        usual = off_hub(priority)
    here = threading.get_native_id()
    assert niced[0] != here and niced[1:] == (os.SCHED_OTHER, 7)
    assert idle[0] != here and idle[1] == os.SCHED_IDLE
    assert usual[0] != here and usual[1:] == (os.SCHED_OTHER, 0)
    assert priority()[1:] == (os.SCHED_OTHER, 0)  # the caller's thread keeps its own


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
