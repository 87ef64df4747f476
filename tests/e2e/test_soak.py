"""Soak: a few thousand mixed requests from several threads against gunicorn on loopback.

Bounded in count (THREADS x ROUNDS rounds of several requests) and in time (DEADLINE seconds),
it checks there is no 5xx, every todo created (and not deleted) is found afterwards, and no
update is lost when clients race on one todo with If-Match.
"""

import random
import threading
import time

import requests

from tests.support.servers import free_port, gunicorn_server

THREADS = 6
ROUNDS = 100  # each round: create, read, list, patch (with retries), sometimes delete
DEADLINE = 120


def test_mixed_load_loses_nothing():
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    env = {"RATELIMIT_DEFAULT": "1000000 per minute", "RATELIMIT_TOKEN": "1000 per minute",
           "SECRET_KEY": "soak-secret-key-long-enough-0123456789abcdef",
           "JWT_SECRET_KEY": "soak-jwt-secret-key-long-enough-0123456789ab"}
    # one process (the embedded store lives in it), several threads serving concurrently
    with gunicorn_server(port, env, extra=["--worker-class", "gthread", "--threads", "4"]):
        setup = requests.Session()
        setup.post(f"{base}/users", json={"username": "soak", "password": "correct horse"}, timeout=10)
        token = setup.post(f"{base}/tokens", auth=("soak", "correct horse"), timeout=10).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        counter = setup.post(f"{base}/todos", json={"name": "counter", "task": "0"},
                             headers=auth, timeout=10).json()["url"]
        created, deleted, statuses, increments = set(), set(), [], []
        lock = threading.Lock()
        stop_at = time.monotonic() + DEADLINE

        def client(n: int):
            rng = random.Random(n)
            s = requests.Session()
            for i in range(ROUNDS):
                if time.monotonic() > stop_at:
                    break
                r = s.post(f"{base}/todos", json={"name": f"t{n}-{i}", "tags": ["soak"]},
                           headers=auth, timeout=10)
                record = [r.status_code]
                url = r.json()["url"] if r.status_code == 201 else None
                if url:
                    record.append(s.get(url, headers=auth, timeout=10).status_code)
                record.append(s.get(f"{base}/todos?limit=20&tag=soak", headers=auth,
                                    timeout=10).status_code)
                # read-modify-write on the shared counter: retry on 412 until it lands
                while time.monotonic() < stop_at:
                    current = s.get(counter, headers=auth, timeout=10)
                    record.append(current.status_code)
                    value = int(current.json()["task"])
                    r = s.patch(counter, json={"task": str(value + 1)}, timeout=10,
                                headers={**auth, "If-Match": current.headers["ETag"]})
                    record.append(r.status_code)
                    if r.status_code == 200:
                        with lock:
                            increments.append(value)
                        break
                    assert r.status_code == 412, r.text
                gone = url and rng.random() < 0.2
                if gone:
                    record.append(s.delete(url, headers=auth, timeout=10).status_code)
                with lock:
                    statuses.extend(record)
                    if url:
                        (deleted if gone else created).add(url)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=DEADLINE + 30)
        elapsed = time.monotonic() - started

        assert len(statuses) >= 2000, f"only {len(statuses)} requests in {elapsed:.0f}s"
        assert not [s for s in statuses if s >= 500]
        assert set(statuses) <= {200, 201, 204, 412}
        # every todo created and not deleted is there; every deleted one is gone
        found, url = set(), f"{base}/todos?limit=100&tag=soak"
        while url:
            page = setup.get(url, headers=auth, timeout=10).json()
            found |= {t["url"] for t in page["items"]}
            url = page["links"]["next"]
        assert found == created
        # no lost update: each successful PATCH saw a distinct value, and the last one stuck
        final = int(setup.get(counter, headers=auth, timeout=10).json()["task"])
        assert sorted(increments) == list(range(len(increments)))
        assert final == len(increments)
        if elapsed < DEADLINE:
            assert len(increments) == THREADS * ROUNDS
