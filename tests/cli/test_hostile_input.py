"""What a client chose must not reach the operator as options or terminal control (issue 19,
item 13): a username may not start with '-' (the CLI would read it as an option), and
``users show`` prints a stored User-Agent's C0 and C1 control characters escaped."""

import pytest

from tests.conftest import assert_problem


@pytest.mark.parametrize("username", ["--help", "-rf", "-ab", "-" * 10])
def test_a_username_starting_with_a_dash_is_refused_at_registration(client, username):
    response = client.post("/api/v1/users", json={"username": username, "password": "correct horse"})
    assert "not '-' first" in str(assert_problem(response, 422, "username")["errors"])


def test_a_dash_inside_a_username_is_still_fine(client):
    response = client.post("/api/v1/users", json={"username": "a-b-", "password": "correct horse"})
    assert response.status_code == 201


def test_users_create_refuses_a_leading_dash_in_one_line(runner):
    result = runner.invoke(args=["users", "create", "--password", "correct horse", "--", "--help"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not '-' first" in errors[0]


def test_users_show_escapes_control_characters_of_a_user_agent(runner, client, auth):
    auth.register("alice", "correct horse")
    # C0 (ESC, BEL, DEL) and C1 (CSI U+009B, NEL U+0085) from a client's header
    agent = "evil\x1b[2J\x07\x7fline\x9b31m\x85end"
    response = client.post("/api/v1/tokens", auth=("alice", "correct horse"),
                           headers={"User-Agent": agent})
    assert response.status_code == 200
    result = runner.invoke(args=["users", "show", "alice"])
    assert result.exit_code == 0, result.output
    assert r"evil\x1b[2J\x07\x7fline\x9b31m\x85end" in result.stdout
    assert not any(ch in result.stdout for ch in "\x1b\x07\x7f\x9b\x85")
