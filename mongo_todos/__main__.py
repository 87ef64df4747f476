"""``python -m mongo_todos``: serve the API with gunicorn, seeded with demo data when embedded.

This is the quick start: with no ``MONGODB_URI`` it runs on the in-process store, in one
worker process (the store lives in that process), with a demo account and a few todos.
Production deployments run ``gunicorn -c config/gunicorn.conf.py`` instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from gunicorn.app.base import BaseApplication

from . import ConfigError, create_app
from .seed import seed


class _Server(BaseApplication):
    def __init__(self, app, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mongo_todos", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--demo-todos", type=int, default=5, help="todos seeded (embedded only)")
    args = parser.parse_args(argv)
    try:
        app = create_app()
    except ConfigError as err:
        sys.exit(f"mongo_todos: invalid setting: {err}")
    url = f"http://{args.host}:{args.port}"
    print(f"mongo_todos API: {url}/api/v1  (docs: {url}/docs)", flush=True)
    if app.config["EMBEDDED_DB"]:
        with app.app_context():
            [(username, password)] = seed(users=1, todos_per_user=args.demo_todos)
        print(f"demo account: username={username} password={password}", flush=True)
        print(f"try: curl -s -u {username}:{password} -X POST {url}/api/v1/tokens", flush=True)
    _Server(
        app,
        {
            "bind": f"{args.host}:{args.port}",
            "workers": 1,  # the embedded store lives in one process
            "accesslog": "-",
            "graceful_timeout": 10,
            "control_socket_disable": True,
        },
    ).run()


if __name__ == "__main__":
    main()
