"""The API root (``GET /api/v1``, and ``GET /`` pointing to it) and the problem type pages.

A client needs one URL: the root lists every entry point as an absolute link (hypermedia:
clients never build URLs). Each problem ``type`` URI (``/api/v1/problems/<slug>``) resolves
to a description of that problem, as RFC 9457 suggests, and ``/api/v1/problems`` lists them.
"""

from __future__ import annotations

import flask
from flask import url_for
from flask_smorest import abort

from . import errors
from .extensions import Blueprint
from .schemas import ProblemTypeListSchema, ProblemTypeSchema, RootSchema

blp = Blueprint("root", __name__, url_prefix="/api/v1",
                description="Entry point and problem types (no token needed)")


@blp.route("", methods=["GET"], strict_slashes=False)  # /api/v1/ too
@blp.doc(security=[])
@blp.response(200, RootSchema)
def index():
    """The API's entry points, as links.

    Start here: every resource, the OpenAPI document and the interactive docs.
    """
    link = lambda endpoint: url_for(endpoint, _external=True)  # noqa: E731
    return {
        "name": "mongo_todos",
        "version": "v1",
        "links": {
            "users": link("users.new"),
            "me": link("users.me"),
            "tokens": link("tokens.new"),
            "refresh": link("tokens.refresh"),
            "todos": link("todos.all"),
            "problems": link("root.problems"),
            "openapi": link("api-docs.openapi_json"),
            "docs": link("docs.page"),
        },
    }


def _problem_type(slug: str) -> dict:
    title, advice = errors.PROBLEM_TYPES[slug]
    return {"type": errors.type_uri(slug), "title": title,
            "status": errors.PROBLEM_STATUS[slug], "advice": advice}


@blp.route("/problems", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, ProblemTypeListSchema)
def problems():
    """Every problem type, with what a client should do about it.

    An error whose `type` is none of these is `about:blank`: its status says it all.
    """
    return {"items": [_problem_type(slug) for slug in errors.PROBLEM_TYPES]}


@blp.route("/problems/<slug>", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, ProblemTypeSchema)
def problem(slug):
    """What a problem type means: the page its `type` URI points to."""
    if slug not in errors.PROBLEM_TYPES:
        abort(404, message="No problem type of this name.")
    return _problem_type(slug)


def init_app(app: flask.Flask) -> None:
    """``GET /``: a redirect to the API root (with the link in a JSON body too)."""

    @app.get("/")
    def home():
        """Where the API is."""
        target = url_for("root.index", _external=True)
        return {"links": {"api": target}}, 302, {"Location": target}
