"""WSGI entry point for gunicorn: ``mongo_todos.wsgi:app``.

An invalid setting stops the process with one clear line instead of a traceback.
"""

import sys

from mongo_todos import ConfigError, create_app
from mongo_todos.store.startup import check_in_background

try:
    app = create_app()
except ConfigError as err:
    sys.exit(f"mongo_todos: invalid setting: {err}")
# say at start-up whether the database answers, without waiting for it
check_in_background(app)
