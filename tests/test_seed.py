"""Demo data: deterministic, idempotent, batched; the CLI prints credentials."""

import pytest

from mongo_todos.seed import BATCH_SIZE, seed
from mongo_todos.store.documents import Todo, User
from mongo_todos.store.embedded import EmbeddedCollection


def snapshot(app):
    with app.app_context():
        return sorted(
            (str(t["_id"]), t["name"], t["done"], str(t["due_at"]), tuple(t["tags"]))
            for t in Todo._get_collection().find()
        )


def test_same_seed_same_data(make_app):
    first, second = make_app(), None
    with first.app_context():
        seed(users=2, todos_per_user=30, seed=5)
    data = snapshot(first)
    second = make_app()
    with second.app_context():
        seed(users=2, todos_per_user=30, seed=5)
    assert snapshot(second) == data and len(data) == 60
    third = make_app()
    with third.app_context():
        seed(users=2, todos_per_user=30, seed=6)
    assert snapshot(third) != data


def test_running_twice_duplicates_nothing(app):
    with app.app_context():
        seed(users=3, todos_per_user=20, seed=1)
        credentials = seed(users=3, todos_per_user=20, seed=1)
        assert [u for u, _ in credentials] == ["demo", "demo2", "demo3"]
        assert User.objects.count() == 3
        assert Todo.objects.count() == 60


def test_reset_replaces_the_demo_todos(app):
    with app.app_context():
        seed(users=1, todos_per_user=10, seed=1)
        seed(users=1, todos_per_user=4, seed=2, reset=True)
        assert Todo.objects.count() == 4


def test_inserts_in_batches(app, monkeypatch):
    calls = []
    original = EmbeddedCollection.insert_many

    def spy(self, documents, *args, **kwargs):
        calls.append(len(documents))
        return original(self, documents, *args, **kwargs)

    monkeypatch.setattr(EmbeddedCollection, "insert_many", spy)
    with app.app_context():
        seed(users=1, todos_per_user=2 * BATCH_SIZE + 5, seed=0)
    assert calls == [BATCH_SIZE, BATCH_SIZE, 5]


def test_seeded_todos_are_valid_representations(app, client):
    with app.app_context():
        seed(users=1, todos_per_user=50, seed=3)
    token = client.post("/api/v1/tokens", auth=("demo", "demo-password")).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/todos?limit=100&count=true", headers=headers).get_json()
    assert body["page"]["total"] == 50
    assert len(body["items"]) == 50
    assert len({t["name"] for t in body["items"]}) > 25  # realistic variety, not one name
    assert len({tag for t in body["items"] for tag in t["tags"]}) > 3
    assert any(t["due_at"] is None for t in body["items"])
    assert any(t["done"] for t in body["items"]) and any(not t["done"] for t in body["items"])
    # undated todos still sort last by due date
    due = [t["due_at"] for t in client.get("/api/v1/todos?limit=100&sort=due_at",
                                            headers=headers).get_json()["items"]]
    dated = [d for d in due if d]
    assert due == dated + [None] * (len(due) - len(dated)) and dated == sorted(dated)


def test_seed_command_prints_what_it_did_and_credentials(runner):
    result = runner.invoke(args=["seed", "--users", "2", "--todos-per-user", "15", "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert "todos: 30 created, 0 already present" in result.stdout
    assert "accounts: 2 created, 0 already present" in result.stdout
    assert "username=demo password=demo-password" in result.stdout
    assert "username=demo2 password=demo-password" in result.stdout
    assert "━" not in result.output  # no progress bar outside a terminal (a log, CI)


def test_seed_command_rerun_reports_that_it_added_nothing(runner):
    args = ["seed", "--users", "2", "--todos-per-user", "15", "--seed", "9"]
    runner.invoke(args=args)
    again = runner.invoke(args=[*args, "--password", "another-password"])
    assert again.exit_code == 0, again.output
    assert "todos: 0 created, 30 already present" in again.stdout
    assert "accounts: 0 created, 2 already present" in again.stdout
    # the accounts kept their password: the new one is not shown as theirs
    assert "another-password" not in again.stdout
    assert "username=demo (already present: its password is unchanged)" in again.stdout
    reset = runner.invoke(args=[*args, "--reset"])
    assert "todos: 30 deleted (--reset)" in reset.stdout
    assert "todos: 30 created, 0 already present" in reset.stdout


def test_seeded_todos_read_like_a_persons_list(app):
    """Name, task, tags and due date of each todo come from one coherent template."""
    from mongo_todos.seed import _TEMPLATES, plant

    with app.app_context():
        report = plant(users=1, todos_per_user=300, seed=4)
        todos = list(Todo._get_collection().find())
    assert report.todos_created == 300 and report.accounts_created == ["demo"]
    by_tags = {}
    for _name, _task, tags, window in _TEMPLATES:
        by_tags.setdefault(tuple(tags), []).append(window)
    for todo in todos:
        assert tuple(todo["tags"]) in by_tags, todo
        assert "{" not in todo["name"] + todo["task"], todo  # every slot filled
        windows = by_tags[tuple(todo["tags"])]
        if todo["due_at"] is None:
            assert None in windows, todo
        else:
            days = (todo["due_at"] - todo["created_at"]).days
            assert any(w and w[0] - 1 <= days <= w[1] for w in windows), todo
            assert todo["due_at"].minute == 0  # set on the hour, the way people do
        assert todo["updated_at"] >= todo["created_at"]
    # groceries are never a "someday" item, and the names repeat the way chores do
    assert all(t["due_at"] for t in todos if t["name"] == "Buy groceries")
    assert 25 < len({t["name"] for t in todos}) < 300


@pytest.mark.parametrize("args", [["--users", "0"], ["--todos-per-user", "-1"], ["--seed", "x"],
                                  ["--password", "short"]])
def test_seed_command_rejects_bad_options(runner, args):
    result = runner.invoke(args=["seed", *args])
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_seed_script_runs_standalone(tmp_path):
    import subprocess
    import sys

    from tests.support.servers import ROOT

    result = subprocess.run(
        [sys.executable, "scripts/seed.py", "--users", "1", "--todos-per-user", "1200"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "k" * 40, "JWT_SECRET_KEY": "j" * 40},
    )
    assert result.returncode == 0, result.stderr
    assert "todos: 1200 created, 0 already present" in result.stdout
    assert "MONGODB_URI is not set" in result.stderr
