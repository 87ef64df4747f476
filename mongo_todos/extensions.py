"""Extensions shared by every app, and the flask-smorest classes adapted to problem+json.

The MongoEngine binding, the Api (it holds the OpenAPI document) and the Limiter (it holds
its storage) keep per-app state, so ``create_app`` makes one of each per app instead.
"""

from __future__ import annotations

import http
import time

from apispec import BasePlugin
from flask import current_app
from flask_jwt_extended import JWTManager
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest.spec import prepare_response
from marshmallow import Schema, fields

from . import errors
from .body import parser


class CachingJWTManager(JWTManager):
    """Flask-JWT-Extended, remembering tokens whose signature it has verified.

    A client sends the same access token with every request for its lifetime, and verifying
    it (PyJWT: base64, JSON, HMAC) was the largest single cost of a request, twice over (the
    rate limiter's key and the view each decode it). Verified claims are kept per app, keyed
    by the exact token string; a cached token is still refused once expired (it then goes
    through the full decode, which raises the usual error), and revocation is still checked
    on every request by the blocklist callback, which this cache does not touch.
    """

    MAX_CACHED = 10_000

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        cache = current_app.extensions.setdefault("mongo_todos_verified_jwts", {})
        claims = cache.get(encoded_token)
        if claims is not None and csrf_value is None and claims["exp"] > time.time():
            return dict(claims)
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if not allow_expired and csrf_value is None and "exp" in claims:
            if len(cache) >= self.MAX_CACHED:
                cache.clear()
            cache[encoded_token] = claims
        return dict(claims)


jwt = CachingJWTManager()


class ProblemSchema(Schema):
    """RFC 9457 problem details: the body of every error."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Not Found"})
    status = fields.Integer(metadata={"example": 404})
    detail = fields.String(metadata={"example": "No todo with this id."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages per field (422)"},
    )


class ProblemResponses(BasePlugin):
    """Document, on every operation, the error responses the service can give it."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            codes = {429, 500, 503}
            if operation.get("security") != []:
                codes.add(401)
            if method in ("post", "put", "patch") or "requestBody" in operation:
                codes |= {400, 413, 415, 422}
            if "{todo_id}" in (path or ""):
                codes.add(404)
                if method in ("put", "patch", "delete"):
                    codes |= {412, 428}
            if method == "get" and path.endswith("/todos"):
                codes |= {400, 422}
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses.setdefault(str(code), http.HTTPStatus(code).name)


class Api(_Api):
    """flask-smorest's Api with problem+json error bodies, in responses and in the spec."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app=None, *, spec_kwargs=None):
        spec_kwargs = dict(spec_kwargs or {})
        spec_kwargs.setdefault("extra_plugins", []).append(ProblemResponses())
        super().__init__(app, spec_kwargs=spec_kwargs)

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint reading bodies through :mod:`mongo_todos.body`."""

    ARGUMENTS_PARSER = parser
