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
import errno
import logging
import os
import re
import signal
import socket
import sys

from gunicorn.app.base import BaseApplication
from pymongo.errors import PyMongoError

# all loaded in gunicorn's master, before the worker's gevent patching: none of them opens a
# socket or a thread at import time; the modules create_app() imports (web, accounts, todos)
# load in the worker, after it
from mongo_todos import ConfigError, create_app, settings
from mongo_todos.cli.terminal import describe_database_error
from mongo_todos.seed import DEMO_PASSWORD, demo_usernames, seed
from mongo_todos.store.startup import check_in_background
from mongo_todos.web import gunicorn_errors, logs

log = logging.getLogger("mongo_todos")


class _Server(BaseApplication):
    def __init__(self, options: dict, demo_todos: int):
        self.options = options
        self.demo_todos = demo_todos
        super().__init__()

    def load_config(self):
        gunicorn_errors.install()  # no HTML error page from gunicorn either
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """Called in the worker: a new app, new keys and (embedded) a new demo store."""
        try:
            app = create_app()
        except ConfigError as err:  # checked in the master already; the environment changed?
            sys.exit(f"mongo_todos: invalid setting: {err}")
        except PyMongoError as err:  # a mongodb+srv:// name that does not resolve
            sys.exit(f"mongo_todos: {describe_database_error(err, os.environ.get('MONGODB_URI'))}")
        if app.config["EMBEDDED_DB"]:
            with app.app_context():
                seed(users=1, todos_per_user=self.demo_todos)
        check_in_background(app)  # a word at start-up if MongoDB does not answer
        return app


def _leave_ctrl_c_to_the_master(worker) -> None:
    """Ctrl-C in a terminal signals the whole process group: the master stops the worker
    anyway (SIGQUIT), and the worker's own SIGINT, arriving as it exits, made gevent print a
    traceback of ``SystemExit: 0``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: Demo todos the embedded store is measured with: the default TODO_QUOTA of an account. A list
#: page reads the account's own todos (in-process: 10,000 todos 20-40 ms a page, 30,000
#: 70-160 ms), and an account past its quota cannot create any more.
EMBEDDED_COMFORT = 10_000


class _Parser(argparse.ArgumentParser):
    """Wrong arguments are one line (what is wrong, where the help is), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _number(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port``, or None when it can.

    Checked before anything is printed: gunicorn would otherwise print its start-up lines,
    retry for five seconds and give up with "Can't connect", after the banner said the API
    was up. The probe binds the way gunicorn does (SO_REUSEADDR) and closes at once.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"cannot listen on {host}: not a known host name or address (see --host)"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use: stop the other server or "
                        f"choose another port with --port")
            if err.errno == errno.EACCES:
                return f"port {port} needs privileges to listen on: choose one above 1023 with --port"
            return f"cannot listen on {host}:{port}: {err.strerror} (see --host and --port)"
    return None


def host_port(host: str, port: int) -> str:
    """``host:port`` for gunicorn's bind and the banner's URL: an IPv6 address in brackets
    (gunicorn reads ``::1:5000`` as a host name, and a URL needs them too)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv: list[str] | None = None) -> None:
    # the module docstring is reST for the docs; the terminal gets it without the markup
    parser = _Parser(prog="python -m mongo_todos",
                     description=re.sub(r"\*(\w+)\*", r"\1", __doc__.replace("``", "")))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                        help="address to listen on [HOST, else 127.0.0.1]")
    parser.add_argument("--port", type=_number(0, 65535), default=os.environ.get("PORT", "5000"),
                        help="port to listen on [PORT, else 5000]")
    parser.add_argument("--demo-todos", type=_number(0, 100_000), default=5,
                        help="todos of the demo account (embedded store only; measured up to "
                             "10,000) [5]")
    args = parser.parse_args(argv)
    args.host = args.host.strip("[]")  # "[::1]" as a URL writes it: the address is ::1
    problem = port_problem(args.host, args.port)
    if problem:
        sys.exit(f"mongo_todos: {problem}")
    try:
        # the settings are checked here, once, so a bad value stops the start with one line;
        # the app itself (and any random key) is built in the worker
        config = settings.from_env(os.environ, quiet=True)
    except ConfigError as err:
        sys.exit(f"mongo_todos: invalid setting: {err}")
    # log lines like every other (JSON, or human-readable on a terminal), not bare prints
    logs.configure(config["LOG_LEVEL"])
    url = f"http://{host_port(args.host, args.port)}"
    if config["EMBEDDED_DB"] and args.demo_todos > EMBEDDED_COMFORT:
        log.warning("%d demo todos: past the embedded store's measured size (%d, the default "
                    "TODO_QUOTA): list pages slow down with the account's todos and the demo "
                    "account cannot create more", args.demo_todos, EMBEDDED_COMFORT)
    log.info("mongo_todos API: %s/api/v1  (docs: %s/docs)", url, url)
    if config["EMBEDDED_DB"]:
        [username] = demo_usernames(1)
        log.info("demo account: username=%s password=%s", username, DEMO_PASSWORD)
        log.info("try: curl -s -u %s:%s -X POST %s/api/v1/tokens", username, DEMO_PASSWORD, url)
    _Server(
        {
            "bind": host_port(args.host, args.port),
            "workers": 1,  # the embedded store lives in one process
            # no proxy in front: slow clients must not hold the only worker, nor one address
            # every connection it has (gevent, capped per address: web/gunicorn_workers.py)
            "worker_class": "mongo_todos.web.gunicorn_workers.CappedGeventWorker",
            "logger_class": "mongo_todos.web.logs.GunicornLogger",
            "accesslog": "-",
            "graceful_timeout": 10,
            "control_socket_disable": True,
            "post_worker_init": _leave_ctrl_c_to_the_master,
        },
        args.demo_todos,
    ).run()


if __name__ == "__main__":
    main()
