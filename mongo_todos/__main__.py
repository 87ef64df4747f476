"""``python -m mongo_todos``: serve the API with gunicorn, seeded with demo data when embedded.

This is the quick start: with no ``MONGODB_URI`` it runs on the in-process store, in one
worker process (the store lives in that process), with a demo account and a few todos.
Production deployments run ``gunicorn -c config/gunicorn.conf.py`` behind the compose file's
nginx instead.

The app, its signing keys and the demo data are built inside the worker, not in gunicorn's
master: if the worker is ever replaced (killed, timed out), the new one starts a new store
*and* new keys, so no token outlives the store that issued it. The worker is gevent's: with no
proxy in front, a slow or idle client costs a greenlet, not the server (README, "Worker model").
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from gunicorn.app.base import BaseApplication

from . import ConfigError, logs, settings
from .seed import DEMO_PASSWORD, demo_usernames

log = logging.getLogger("mongo_todos")


class _Server(BaseApplication):
    def __init__(self, options: dict, demo_todos: int):
        self.options = options
        self.demo_todos = demo_todos
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """Called in the worker: a new app, new keys and (embedded) a new demo store."""
        from . import create_app
        from .seed import seed

        try:
            app = create_app()
        except ConfigError as err:  # checked in the master already; the environment changed?
            sys.exit(f"mongo_todos: invalid setting: {err}")
        if app.config["EMBEDDED_DB"]:
            with app.app_context():
                seed(users=1, todos_per_user=self.demo_todos)
        return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mongo_todos", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--demo-todos", type=int, default=5, help="todos seeded (embedded only)")
    args = parser.parse_args(argv)
    try:
        # the settings are checked here, once, so a bad value stops the start with one line;
        # the app itself (and any random key) is built in the worker
        config = settings.from_env(os.environ, quiet=True)
    except ConfigError as err:
        sys.exit(f"mongo_todos: invalid setting: {err}")
    # log lines like every other (JSON, or human-readable on a terminal), not bare prints
    logs.configure(config["LOG_LEVEL"])
    url = f"http://{args.host}:{args.port}"
    log.info("mongo_todos API: %s/api/v1  (docs: %s/docs)", url, url)
    if config["EMBEDDED_DB"]:
        [username] = demo_usernames(1)
        log.info("demo account: username=%s password=%s", username, DEMO_PASSWORD)
        log.info("try: curl -s -u %s:%s -X POST %s/api/v1/tokens", username, DEMO_PASSWORD, url)
    _Server(
        {
            "bind": f"{args.host}:{args.port}",
            "workers": 1,  # the embedded store lives in one process
            # no proxy in front: slow clients must not hold the only worker
            "worker_class": "gevent",
            "logger_class": "mongo_todos.logs.GunicornLogger",
            "accesslog": "-",
            "graceful_timeout": 10,
            "control_socket_disable": True,
        },
        args.demo_todos,
    ).run()


if __name__ == "__main__":
    main()
