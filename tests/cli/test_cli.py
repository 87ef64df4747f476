"""``flask --app mongo_todos users create NAME`` and ``db init``."""

from mongo_todos.store.documents import User


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
