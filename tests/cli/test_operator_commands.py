"""The operator commands, run in process: ``flask --app mongo_todos users create|list|show|
set-password|end-sessions|delete`` and ``db init``: one clear line of result, exit 1 for an
unknown account, 2 for an invalid value, and a warning on the embedded store."""

import pytest

from mongo_todos.store.documents import User
from mongo_todos.store.embedded import EmbeddedCollection
from tests.conftest import assert_problem, bearer

EMBEDDED_WARNING = "warning: MONGODB_URI is not set"


@pytest.fixture
def alice(client, auth):
    auth.register("alice", "correct horse")
    tokens = [auth.login("alice"), auth.login("alice")]
    client.post("/api/v1/todos", json={"name": "x"}, headers=bearer(tokens[0]["access_token"]))
    return tokens


def test_users_create_prompts_for_a_hidden_password(app, runner, client):
    result = runner.invoke(args=["users", "create", "carol"], input="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    assert "created user carol" in result.output
    assert "correct horse" not in result.output  # the prompt does not echo it
    assert client.post("/api/v1/tokens", auth=("carol", "correct horse")).status_code == 200


def test_users_create_on_the_embedded_store_warns_before_the_password_prompt(runner):
    result = runner.invoke(args=["users", "create", "carol"], input="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    # output holds stdout and stderr in the order written: the warning, then the prompt
    warning = result.output.index("warning: MONGODB_URI is not set")
    assert warning < result.output.index("Password")
    assert "created user carol" in result.stdout


def test_users_create_works_with_registration_closed(make_app):
    app = make_app(REGISTRATION_OPEN=False)
    result = app.test_cli_runner().invoke(
        args=["users", "create", "dave"], input="correct horse\ncorrect horse\n"
    )
    assert result.exit_code == 0
    with app.app_context():
        assert User.objects(username_key="dave").count() == 1


def test_users_create_refuses_taken_and_invalid_names(runner):
    runner.invoke(args=["users", "create", "carol"], input="correct horse\ncorrect horse\n")
    taken = runner.invoke(args=["users", "create", "CAROL"], input="correct horse\ncorrect horse\n")
    assert taken.exit_code == 1 and "taken" in taken.output
    invalid = runner.invoke(args=["users", "create", "x"], input="short\nshort\n")
    assert invalid.exit_code == 2
    assert "username" in invalid.output and "password" in invalid.output


def test_users_create_needs_matching_passwords(runner):
    result = runner.invoke(
        args=["users", "create", "erin"], input="correct horse\nother horse\n"
    )
    assert result.exit_code != 0
    assert "do not match" in result.output.lower() or "don't match" in result.output.lower()


def test_users_list_shows_every_account_with_its_sessions(runner, auth, alice):
    auth.register("bob")
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("alice\t") and lines[0].endswith("sessions 2")
    assert lines[1].startswith("bob\t") and lines[1].endswith("sessions 0")
    assert lines[-1] == "2 account(s)"
    assert EMBEDDED_WARNING in result.stderr


def test_users_show_lists_the_sessions(runner, alice):
    result = runner.invoke(args=["users", "show", "ALICE"])
    assert result.exit_code == 0, result.output
    assert "username: alice" in result.stdout and "sessions: 2" in result.stdout
    assert result.stdout.count("from 127.0.0.1") == 2


def test_users_set_password_ends_every_session(runner, client, alice):
    result = runner.invoke(args=["users", "set-password", "alice"],
                           input="battery staple\nbattery staple\n")
    assert result.exit_code == 0, result.output
    assert "password of alice changed; 2 session(s) ended" in result.stdout
    for tokens in alice:
        assert_problem(client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])), 401)
    assert client.post("/api/v1/tokens", auth=("alice", "battery staple")).status_code == 200
    assert_problem(client.post("/api/v1/tokens", auth=("alice", "correct horse")), 401)


def test_users_set_password_refuses_a_short_one(runner, client, alice):
    result = runner.invoke(args=["users", "set-password", "alice", "--password", "short"])
    assert result.exit_code == 2 and "error: password" in result.stderr
    assert client.get("/api/v1/users/me", headers=bearer(alice[0]["access_token"])).status_code == 200


def test_users_end_sessions(runner, client, alice):
    result = runner.invoke(args=["users", "end-sessions", "alice"])
    assert result.exit_code == 0 and "ended 2 session(s) of alice" in result.stdout
    for tokens in alice:
        assert_problem(client.post("/api/v1/tokens/refresh",
                                   headers=bearer(tokens["refresh_token"])), 401)


def test_users_delete_removes_the_account_and_frees_the_name(runner, client, alice):
    refused = runner.invoke(args=["users", "delete", "alice"], input="n\n")
    assert refused.exit_code == 1
    assert client.get("/api/v1/users/me", headers=bearer(alice[0]["access_token"])).status_code == 200
    result = runner.invoke(args=["users", "delete", "alice"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "deleted alice" in result.stdout and "1 todo(s), 2 session(s) ended" in result.stdout
    assert_problem(client.get("/api/v1/todos", headers=bearer(alice[1]["access_token"])), 401)
    assert client.post("/api/v1/users", json={"username": "alice", "password": "x" * 8}).status_code == 201


@pytest.mark.parametrize("command", [["show"], ["set-password", "--password", "battery staple"],
                                     ["end-sessions"], ["delete", "--yes"]])
def test_unknown_account_exits_1_with_one_line(runner, command):
    result = runner.invoke(args=["users", command[0], "nobody", *command[1:]])
    assert result.exit_code == 1
    assert "error: no account named 'nobody'" in result.stderr


def test_users_delete_finishes_an_interrupted_deletion(app, runner, client, alice, monkeypatch):
    from pymongo.errors import AutoReconnect

    original = EmbeddedCollection.delete_many

    def todos_down(self, *args, **kwargs):
        if self.name == "todos":
            raise AutoReconnect("connection reset")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedCollection, "delete_many", todos_down)
    failed = client.delete("/api/v1/users/me", json={"password": "correct horse"},
                           headers=bearer(alice[0]["access_token"]))
    assert_problem(failed, 503)
    monkeypatch.setattr(EmbeddedCollection, "delete_many", original)
    listed = runner.invoke(args=["users", "list"])
    assert "alice" in listed.stdout and "(deletion unfinished)" in listed.stdout
    result = runner.invoke(args=["users", "delete", "alice", "--yes"])
    assert result.exit_code == 0 and "1 todo(s)" in result.stdout
    assert_problem(client.get("/api/v1/todos", headers=bearer(alice[0]["access_token"])), 401)
    assert "0 account(s)" in runner.invoke(args=["users", "list"]).stdout


def test_db_init_creates_indexes(app, runner):
    from mongo_todos.store.documents import Todo

    with app.app_context():
        Todo._get_collection().drop_indexes()
        assert "owner_created_at_id" not in Todo._get_collection().index_information()
    result = runner.invoke(args=["db", "init"])
    assert result.exit_code == 0 and "indexes are in place" in result.output
    with app.app_context():
        names = set(Todo._get_collection().index_information())
    assert {"owner_created_at_id", "owner_updated_at_id", "owner_due_sort_id",
            "owner_name_key_id"} <= names
