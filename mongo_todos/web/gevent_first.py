"""gevent's monkey-patching, done before anything imports ``ssl`` (under the quick start).

gunicorn's gevent worker patches the standard library when the worker starts, after the
master imported this package: pymongo (``pymongo.ssl_context``) and PyJWT (``jwt.jwks_client``)
had by then taken direct references to ``ssl.SSLContext`` that patching cannot reach, which
gevent reports with ``MonkeyPatchWarning`` ("may lead to errors, including RecursionError").
A latent fault, not noise: the patching has to come first.

``python -m mongo_todos`` always serves on the gevent worker, and the first module Python runs
for it is this package's ``__init__``, which imports this module before anything else. It
patches there, only for that command (``sys.orig_argv``: ``-m mongo_todos``), so tests, the
CLI and other servers that import the package are untouched. ``gunicorn -c
config/gunicorn.conf.py`` patches in that file, before it imports the package, when its worker
is gevent's. gunicorn's worker then patches again with the same arguments: nothing changes.
"""

from __future__ import annotations

import sys


def serving_quick_start(argv: list[str]) -> bool:
    """Whether ``argv`` (the interpreter's own command line) is ``python -m mongo_todos``."""
    return any(flag == "-m" and module == "mongo_todos" for flag, module in
               zip(argv, argv[1:], strict=False))


def patch() -> None:
    """Patch the standard library for gevent, as gunicorn's worker does (``patch_all()``)."""
    from gevent import monkey  # only when serving: importing gevent costs start-up time

    if not monkey.is_module_patched("socket"):
        monkey.patch_all()


if serving_quick_start(getattr(sys, "orig_argv", [])):
    patch()
