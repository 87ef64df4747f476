"""WSGI entry point for gunicorn: ``mongo_todos.wsgi:app``.

An invalid setting stops the process with one clear line instead of a traceback.
"""

import sys

from mongo_todos import ConfigError, create_app

try:
    app = create_app()
except ConfigError as err:
    sys.exit(f"mongo_todos: invalid setting: {err}")
