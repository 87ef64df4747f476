"""An adversarial review of the changes feed's blocks (mongo_todos.todos.leases, sequence.take):
each test forces one interleaving of request writes, readers here and elsewhere, release
rounds and forks, and pins what the guarantee needs: no reader passes a number still in
flight, no lease is released while a write of its block is in flight or unknown, no number
is handed out twice, nor after its block stopped, nor in a forked child."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, DuplicateKeyError

from mongo_todos import dates
from mongo_todos.store.documents import SyncCounter
from mongo_todos.todos import leases, sequence

ROOT = Path(__file__).resolve().parents[2]


class Counters:
    """A stand-in for the counter collection: records each release, and lets a test check
    it when it happens (a reservation's releases are recorded by the test)."""

    def __init__(self, check=lambda tags: None):
        self.released: list[set[str]] = []
        self.check = check

    def update_one(self, query, update):
        tags = {key.removeprefix("leases.") for key in update["$unset"]}
        self.check(tags)
        self.released.append(tags)


def quiet(counters=None) -> leases.Releaser:
    """A releaser whose release rounds run only when the test calls flush()."""
    releaser = leases.Releaser(lambda: counters or Counters())
    releaser._pid = os.getpid()  # as if its thread were running: none is started
    return releaser


def released(counters: Counters) -> set[str]:
    return set().union(*counters.released)


def leases_of(owner) -> dict:
    return (SyncCounter._get_collection().find_one({"_id": owner}) or {}).get("leases", {})


def write(owner) -> int:
    """One request write of ``owner`` that finishes: its number."""
    with sequence.stamped(owner, deferred=True) as reservation:
        pass
    return reservation.first


# --- forks ----------------------------------------------------------------------------------

def _parent_with_an_open_block(owner) -> str:
    """Blocks [1] and [2, 3]: 2 handed out and finished, 3 still to hand out (the block's
    lease, unreleased, is the one left in the counter document)."""
    assert [write(owner), write(owner)] == [1, 2]
    (tag,) = leases_of(owner)
    return tag


def test_a_forked_childs_reader_does_not_count_its_parents_open_block_as_finished(
        app, releaser):
    """A child forked while its parent's block is open, with nothing in flight, must not
    close that block as its own and call its lease finished: the parent may still hand out
    3, so a reader in the child stays below the lease's ``s`` as any other process's."""
    owner = ObjectId()
    with app.app_context():
        _parent_with_an_open_block(owner)
        releaser._blocks_pid = -1  # as in a child forked now: its first call is a poll
        assert sequence.safe_point(owner) == 1


def test_a_forked_childs_release_round_leaves_its_parents_block_alone(app, releaser):
    """The child's first release round (its releaser thread, or the flush at exit) must not
    release the parent's open block's lease: readers elsewhere would pass the parent's next
    numbers while they are in flight."""
    owner = ObjectId()
    with app.app_context():
        tag = _parent_with_an_open_block(owner)
        releaser._blocks_pid = -1
        releaser.flush()
        assert tag in leases_of(owner)
        assert write(owner) == 4  # and it hands out none of the parent's numbers


# --- readers here and elsewhere ---------------------------------------------------------------

@pytest.mark.parametrize("reader", ["here", "elsewhere"])
def test_a_number_handed_out_of_an_open_block_holds_readers_back_until_it_is_done(
        app, request, reader):
    """The second number of a block (no reservation of its own) holds every reader below it
    while its write is in flight; once done, a reader here passes it at once, a reader
    elsewhere once the release round has released the block's lease."""
    releaser = request.getfixturevalue("releaser" if reader == "here" else "elsewhere")
    owner = ObjectId()
    with app.app_context():
        assert [write(owner) for _ in range(4)] == [1, 2, 3, 4]  # [1], [2, 3], [4..7]
        with sequence.stamped(owner, deferred=True) as fifth:
            assert fifth.first == 5  # out of the open block [4..7]
            assert sequence.safe_point(owner) == (4 if reader == "here" else 3)
        assert sequence.safe_point(owner) == (7 if reader == "here" else 3)
        releaser.flush()
        assert sequence.safe_point(owner) == 7 and leases_of(owner) == {}


@pytest.mark.parametrize("reader", ["here", "elsewhere"])
def test_a_reader_between_a_blocks_reservation_and_its_opening_stays_below_it(
        app, request, monkeypatch, reader):
    """A block's lease lands in the counter document before this process registers the
    block: a reader in that gap knows nothing of it and must use the lease's ``s``."""
    releaser = request.getfixturevalue("releaser" if reader == "here" else "elsewhere")
    owner = ObjectId()
    seen = []
    real = releaser.open

    def open_late(*args):
        seen.append(sequence.safe_point(owner))
        return real(*args)

    with app.app_context():
        write(owner)
        releaser.flush()
        monkeypatch.setattr(releaser, "open", open_late)
        with sequence.stamped(owner, deferred=True) as second:
            pass
    assert second.first == 2 and seen == [1]


# --- which block hands out what --------------------------------------------------------------

def test_two_writers_racing_to_open_a_block_get_distinct_numbers():
    """Two writes of one account that both found no open block both reserve; the second to
    open replaces the first's block, which hands out nothing more but keeps its lease until
    its one number is done."""
    counters = Counters()
    releaser, owner, now = quiet(counters), ObjectId(), dates.utcnow()
    until = now + sequence.LEASE
    assert releaser.open(owner, 1, 4, "X", until, now).first == 1
    assert releaser.open(owner, 5, 8, "Y", until, now).first == 5
    assert releaser.hand_out(owner, now).first == 6  # Y's, never X's 2
    assert releaser.known(owner) == {"X": 1, "Y": 5}  # and the poll stops Y
    assert releaser.hand_out(owner, now) is None
    releaser.done(owner, "X", 1)
    releaser.flush()
    assert counters.released == [{"X"}]
    releaser.done(owner, "Y", 6)
    releaser.done(owner, "Y", 5)
    releaser.flush()
    assert counters.released == [{"X"}, {"Y"}]


@pytest.mark.parametrize("stop", ["used up", "a poll here", "a release round", "its age",
                                  "a newer block"])
def test_a_stopped_block_hands_out_nothing_more(stop):
    """Every way a block stops: the next write of the account reserves (hand_out is None)."""
    releaser, owner, now = quiet(), ObjectId(), dates.utcnow()
    releaser.open(owner, 1, 1 if stop == "used up" else 4, "X", now + sequence.LEASE, now)
    if stop == "a poll here":
        releaser.known(owner)
    elif stop == "a release round":
        releaser.flush()
    elif stop == "its age":
        now += leases.BLOCK_AGE
    elif stop == "a newer block":
        releaser.open(owner, 5, 5, "Y", now + sequence.LEASE, now)
    assert releaser.hand_out(owner, now) is None


@pytest.mark.parametrize("last", ["known", "unknown"])
def test_a_blocks_lease_is_released_only_once_every_number_it_handed_out_is_known(last):
    """Closed with 1, 2 and 3 handed out: no release round releases the lease while one of
    them is in flight, and none ever does when one outcome is unknown (it is left to
    expire)."""
    counters = Counters()
    releaser, owner, now = quiet(counters), ObjectId(), dates.utcnow()
    releaser.open(owner, 1, 8, "X", now + sequence.LEASE, now)
    releaser.hand_out(owner, now), releaser.hand_out(owner, now)
    releaser.flush()  # closes it
    for number, bound in ((3, 1), (1, 2)):
        releaser.done(owner, "X", number)
        releaser.flush()
        assert counters.released == [] and releaser.known(owner) == {"X": bound}
    releaser.done(owner, "X", 2, known=last == "known")
    releaser.flush()
    assert counters.released == ([{"X"}] if last == "known" else [])
    # released; or left to its lease, which a reader here counts from the unknown number
    assert releaser.known(owner) == ({} if last == "known" else {"X": 2})


def test_racing_writers_readers_and_release_rounds_never_release_or_pass_a_write_in_flight():
    """Three writer threads take numbers (reserving blocks as sequence.take does, with the
    releases taken along), a reader thread polls and a release thread flushes, all at once,
    with the interpreter switching threads as often as it can: no number is handed out twice
    or outside its block, no lease with a write in flight (or an unknown one) is released,
    and no reader here counts past a write in flight."""
    lock, failures = threading.Lock(), []
    inflight: dict[int, str] = {}  # number -> its block's tag: handed out, not yet done
    stuck: set[str] = set()
    blocks: dict[str, range] = {}
    handed: set[int] = set()
    top = [0]

    def check(tags):
        with lock:
            if tags & (set(inflight.values()) | stuck):
                failures.append(f"released with a write in flight or unknown: {tags}")

    counters = Counters(check)
    releaser, owner = quiet(counters), ObjectId()

    def reserve(count):
        with releaser.taking(owner) as finished:
            if finished:
                counters.update_one({}, {"$unset": leases.unset(finished)})
            with lock:
                first, top[0] = top[0] + 1, top[0] + count
                tag = str(ObjectId())
                blocks[tag] = range(first, first + count)
        return first, first + count - 1, tag

    def writer(k):
        for i in range(150):
            now = dates.utcnow()
            block = releaser.hand_out(owner, now)
            if block is None:
                first, last, tag = reserve(releaser.size(owner, now))
                block = releaser.open(owner, first, last, tag, now + sequence.LEASE, now)
            with lock:
                if block.first in handed or block.first not in blocks[block.tag]:
                    failures.append(f"{block.first} handed out twice or outside its block")
                handed.add(block.first)
                inflight[block.first] = block.tag
            time.sleep(0)  # the write, in flight
            unknown = (i * 3 + k) % 97 == 0
            with lock:
                del inflight[block.first]
                if unknown:
                    stuck.add(block.tag)
            releaser.done(owner, block.tag, block.first, known=not unknown)

    def reader():
        while not finished.is_set():
            known = releaser.known(owner)
            with lock:
                for number, tag in inflight.items():
                    if tag in known and (known[tag] is None or known[tag] > number):
                        failures.append(f"a reader here passed {number} in flight")

    def rounds():
        while not finished.is_set():
            releaser.flush()

    finished = threading.Event()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        writers = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        others = [threading.Thread(target=reader), threading.Thread(target=rounds)]
        for thread in writers + others:
            thread.start()
        for thread in writers:
            thread.join(10)
        finished.set()
        for thread in others:
            thread.join(10)
    finally:
        sys.setswitchinterval(interval)
    assert failures == [] and len(handed) == 450
    releaser.flush()
    assert released(counters) == set(blocks) - stuck  # every other lease, in the end


# --- failures and what they leave ---------------------------------------------------------------

class Failing:
    """The counter collection, whose reservations fail with ``error`` (``times`` of them)."""

    def __init__(self, collection, error, times=1):
        self.collection, self.error, self.times = collection, error, times

    def find_one_and_update(self, *args, **kwargs):
        if self.times:
            self.times -= 1
            raise self.error
        return self.collection.find_one_and_update(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.collection, name)


def test_a_reservation_that_fails_opens_no_block_and_gives_its_releases_back(
        app, releaser, monkeypatch):
    """A reservation that raises (the database unavailable) leaves no block behind and gives
    back the finished leases it was to take along: they are still counted finished here and
    released later; the next write reserves normally."""
    owner = ObjectId()
    counters = sequence.counters
    with app.app_context():
        write(owner)  # [1]: finished, its release to ride on the next reservation
        (first_lease,) = leases_of(owner)
        failing = Failing(counters(), AutoReconnect("no primary"))
        monkeypatch.setattr(sequence, "counters", lambda: failing)
        with pytest.raises(AutoReconnect):
            write(owner)
        assert releaser.known(owner) == {first_lease: None} and releaser._open == {}
        assert write(owner) == 2  # the failed reservation took no number
        assert first_lease not in leases_of(owner)  # released along with it


def test_a_first_reservation_racing_another_to_create_the_counter_opens_its_block(
        app, releaser, monkeypatch):
    """Two first writes of an account race to create its counter document: the loser's
    upsert raises DuplicateKeyError and its retry takes the next numbers, as a block."""
    owner = ObjectId()
    counters = sequence.counters
    with app.app_context():
        write(owner)
        releaser._sizes[owner] = (4, dates.utcnow())  # a burst: the next block takes 4
        failing = Failing(counters(), DuplicateKeyError("E11000"))
        monkeypatch.setattr(sequence, "counters", lambda: failing)
        assert [write(owner), write(owner)] == [2, 3]
        assert SyncCounter._get_collection().find_one({"_id": owner})["seq"] == 5


class Killed(BaseException):
    """What gevent.Timeout or GreenletExit is: not an Exception."""


def test_a_write_killed_in_flight_keeps_its_block_lease_until_it_expires(
        app, releaser, clock):
    """A request killed mid-write (a gevent timeout: a BaseException, which ``stamped`` does
    not catch) never reports its outcome: its number stays in flight, so readers here and
    elsewhere stay below it, and no round releases the lease, until the lease expires."""
    owner = ObjectId()
    with app.app_context():
        write(owner), write(owner)  # [1], [2, 3]
        with pytest.raises(Killed), sequence.stamped(owner, deferred=True) as killed:
            raise Killed()
        assert killed.first == 3
        releaser.flush()
        assert sequence.safe_point(owner) == 2 and len(leases_of(owner)) == 1
        clock.advance(seconds=sequence.LEASE.total_seconds() + 1)
        assert sequence.safe_point(owner) == 3


def test_a_block_stops_a_second_after_its_reservation_without_a_release_round(
        app, releaser, clock):
    """With no release round (the releaser slow) and no poll, the block's age alone stops
    it: a write a second later reserves anew, and the old block's lease is then finished."""
    owner = ObjectId()
    with app.app_context():
        write(owner), write(owner)  # [1], [2, 3]: 3 not handed out
        (old,) = leases_of(owner)
        clock.advance(seconds=leases.BLOCK_AGE.total_seconds())
        assert write(owner) == 4
        assert old not in leases_of(owner)  # finished, and released along with the new one


def test_a_block_stops_well_before_its_lease_ends():
    """A number handed out at the end of a block's age, written within the default request
    budget, still lands inside the lease (docs/sync.md: "a write lands within the lease")."""
    assert leases.BLOCK_AGE + timedelta(milliseconds=5000) * 2 < sequence.LEASE


# --- memory ----------------------------------------------------------------------------------

def test_finished_blocks_leave_nothing_behind_per_account():
    """A process that writes to many accounts keeps no state for an account once its blocks
    are finished and released (only the bounded sizes)."""
    releaser, now = quiet(), dates.utcnow()
    for _ in range(200):
        owner = ObjectId()
        block = releaser.open(owner, 1, 2, str(ObjectId()), now + sequence.LEASE, now)
        releaser.done(owner, block.tag, block.first)
    releaser.flush()
    assert (releaser._open, releaser._held, releaser._finished, releaser._releasing) == (
        {}, {}, {}, {})


def test_a_stuck_block_is_forgotten_once_its_lease_has_expired(monkeypatch):
    """A block left to its lease (an unknown outcome) is kept, and its lease unreleased,
    while the lease runs; after, readers pass it anyway and the process forgets it (an
    account that writes no more would otherwise keep it for good)."""
    counters = Counters()
    releaser, owner, now = quiet(counters), ObjectId(), dates.utcnow()
    releaser.open(owner, 1, 4, "X", now + sequence.LEASE, now)
    releaser.hand_out(owner, now)  # 2
    releaser.done(owner, "X", 1, known=False)
    releaser.flush()
    assert "X" in releaser._held[owner] and counters.released == []
    later = now + sequence.LEASE + timedelta(seconds=1)
    monkeypatch.setattr(dates, "utcnow", lambda: later)
    releaser.flush()
    assert releaser._held == {}
    releaser.done(owner, "X", 2)  # a write of the block that ends after all: harmless
    releaser.flush()
    assert counters.released == [{"X"}]


# --- gevent ------------------------------------------------------------------------------------

_UNDER_GEVENT = '''
from gevent import monkey
monkey.patch_all()
import gevent
from datetime import timedelta
from bson import ObjectId
from mongo_todos import dates
from mongo_todos.todos import leases

leases.RELEASE_DELAY = 0.001
top, inflight, blocks, failures, handed = [0], {}, {}, [], set()

class Counters:
    def update_one(self, query, update):
        tags = {key.removeprefix("leases.") for key in update["$unset"]}
        if tags & set(inflight.values()):
            failures.append(f"released with a write in flight: {tags}")
        gevent.sleep(0)  # the release's round trip

releaser, owner = leases.Releaser(Counters), ObjectId()

def writer():
    for _ in range(100):
        now = dates.utcnow()
        block = releaser.hand_out(owner, now)
        if block is None:
            count = releaser.size(owner, now)
            with releaser.taking(owner) as finished:
                if finished:
                    Counters().update_one({}, {"$unset": leases.unset(finished)})
                first, top[0] = top[0] + 1, top[0] + count
            tag = str(ObjectId())
            blocks[tag] = range(first, first + count)
            block = releaser.open(owner, first, first + count - 1, tag,
                                  now + timedelta(seconds=60), now)
        if block.first in handed or block.first not in blocks[block.tag]:
            failures.append(f"{block.first} handed out twice or outside its block")
        handed.add(block.first)
        inflight[block.first] = block.tag
        gevent.sleep(0)  # the write's round trip
        del inflight[block.first]
        releaser.done(owner, block.tag, block.first)

def reader():
    while len(handed) < 400:
        known = releaser.known(owner)
        for number, tag in list(inflight.items()):
            if tag in known and (known[tag] is None or known[tag] > number):
                failures.append(f"a reader here passed {number} in flight")
        gevent.sleep(0)  # the counter document's read

with gevent.Timeout(10):
    gevent.joinall([gevent.spawn(writer) for _ in range(4)] + [gevent.spawn(reader)])
    gevent.sleep(0.05)  # the releaser greenlet's last round
assert failures == [], failures[:3]
assert len(handed) == 400 and not releaser._held and not releaser._finished, releaser._held
print("ok")
'''


def test_under_gevent_request_greenlets_and_the_releaser_greenlet_share_the_state_safely():
    """One gevent worker: four request greenlets writing one account (each write and release
    a yield, as its round trip), a reader greenlet, and the releaser's own greenlet (started
    under the releaser's lock, gevent's patched one) finish without a deadlock; no number is
    handed out twice, no reader passes a write in flight, no lease with one is released, and
    every lease is released in the end."""
    result = subprocess.run([sys.executable, "-c", _UNDER_GEVENT], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
