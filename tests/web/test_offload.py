"""A password hash under gevent runs off the hub: other greenlets (other requests) go on
meanwhile; run in place, as before, it stopped them all for its whole length."""

import json
import subprocess
import sys

from mongo_todos.web.offload import off_hub
from tests.support.servers import ROOT

SCRIPT = """
from gevent import monkey
monkey.patch_all()
import json, sys
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
print(json.dumps(counts))
"""


def test_a_password_hash_under_gevent_lets_other_greenlets_run():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["in_place"] == 0  # the hub never ran while the hash held the greenlet
    assert counts["off_hub"] > 0


def test_outside_gevent_the_call_runs_in_place():
    assert off_hub(lambda a, b: (a, b), 1, 2) == (1, 2)
