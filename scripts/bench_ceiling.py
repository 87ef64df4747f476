"""The ceiling for any Flask API on this machine: a bare Flask app returning a static JSON
document shaped like a todo, served by the same gunicorn settings as mongo_todos."""

from flask import Flask

app = Flask(__name__)
app.json.sort_keys = False

TODO = {
    "id": "6560f0c2a1b2c3d4e5f60718",
    "url": "http://127.0.0.1/api/v1/todos/6560f0c2a1b2c3d4e5f60718",
    "name": "Buy groceries", "task": "before the weekend", "done": False, "due_at": None,
    "tags": ["home"], "created_at": "2026-11-21T09:30:00.123Z",
    "updated_at": "2026-11-21T09:30:00.123Z",
}


@app.get("/json")
def json_document():
    """A static JSON document."""
    return TODO
