"""The API root (``GET /api/v1``, and ``GET /`` pointing to it) and the problem type pages.

A client needs one URL: the root lists every entry point as an absolute link (hypermedia:
clients never build URLs). Each problem ``type`` URI (``/api/v1/problems/<slug>``) resolves
to a description of that problem, as RFC 9457 suggests, and ``/api/v1/problems`` lists them.
"""

from __future__ import annotations

import flask
from flask import url_for
from flask_smorest import abort
from marshmallow import Schema, fields

from mongo_todos.web import errors
from mongo_todos.web.api import Blueprint


def _link(description: str) -> fields.String:
    return fields.String(required=True, metadata={"format": "uri", "description": description})


class RootLinksSchema(Schema):
    """Where everything is, as absolute URLs."""

    users = _link("POST here to create an account.")
    me = _link("Your account (needs a token).")
    tokens = _link("POST to log in, DELETE to log out.")
    refresh = _link("POST a refresh token for a new pair.")
    todos = _link("Your todos (needs a token).")
    changes = _link("What changed in your todos since a token: the changes feed "
                    "for syncing clients (needs a token).")
    jobs = _link("Your background jobs, newest first (needs a token).")
    exports = _link("POST here to start an export of your todos (a job).")
    imports = _link("POST NDJSON or JSON here to start an import (a job).")
    bulk = _link("POST here to change or delete many todos (a job).")
    problems = _link("The problem types errors can have.")
    openapi = _link("This API's OpenAPI 3 document.")
    docs = _link("Interactive documentation.")


class RootSchema(Schema):
    """The API's entry point."""

    name = fields.String(required=True, metadata={"example": "mongo_todos"})
    version = fields.String(required=True, metadata={"example": "v1"})
    links = fields.Nested(RootLinksSchema, required=True)


class ProblemTypeSchema(Schema):
    """One kind of error a client can act on."""

    type = fields.String(required=True, metadata={
        "format": "uri-reference", "example": "/api/v1/problems/token-expired",
        "description": "The `type` member of problems of this kind (compare it as a string)."})
    title = fields.String(required=True, metadata={"example": "Token expired"})
    status = fields.Integer(required=True, metadata={"example": 401})
    advice = fields.String(required=True, metadata={
        "example": "Refresh the token pair, or log in again.",
        "description": "What a client should do about it."})


class ProblemTypeListSchema(Schema):
    """Every problem type the API uses besides `about:blank`."""

    items = fields.List(fields.Nested(ProblemTypeSchema), required=True)


blp = Blueprint("root", __name__, url_prefix="/api/v1",
                description="Entry point and problem types (no token needed)")


@blp.route("", methods=["GET"], strict_slashes=False)  # /api/v1/ too
@blp.doc(security=[], operationId="getRoot")
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
            "changes": link("changes.all"),
            "jobs": link("jobs.all"),
            "exports": link("jobs.start_export"),
            "imports": link("jobs.start_import"),
            "bulk": link("jobs.start_bulk"),
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
@blp.doc(security=[], operationId="listProblemTypes")
@blp.response(200, ProblemTypeListSchema)
def problems():
    """Every problem type, with what a client should do about it.

    An error whose `type` is none of these is `about:blank`: its status says it all.
    """
    return {"items": [_problem_type(slug) for slug in errors.PROBLEM_TYPES]}


@blp.route("/problems/<slug>", methods=["GET"])
@blp.doc(security=[], operationId="getProblemType")
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
