#!/usr/bin/env python3
"""Fill mongo_todos with demo accounts and todos.

Same as ``flask --app mongo_todos seed``; settings (MONGODB_URI, ...) come from the
environment. Run it with the project's environment, e.g.::

    MONGODB_URI=mongodb://localhost:27017/mongo_todos SECRET_KEY=... JWT_SECRET_KEY=... \\
        .venv/bin/python scripts/seed.py --users 3 --todos-per-user 500 --seed 42

A bad setting, an unreachable MongoDB or a wrong argument ends it with one line on stderr.
"""

import sys

from mongo_todos.cli.commands import seed_command
from mongo_todos.cli.terminal import app_for_script

if __name__ == "__main__":
    with app_for_script().app_context():
        seed_command.main(args=sys.argv[1:], prog_name="scripts/seed.py", standalone_mode=True)
