"""Extensions shared by every app, and the flask-smorest classes adapted to problem+json.

The MongoEngine binding, the Api (it holds the OpenAPI document) and the Limiter (it holds
its storage) keep per-app state, so ``create_app`` makes one of each per app instead.
"""

from __future__ import annotations

import http
import json
import time

from flask import current_app, request
from flask_jwt_extended import JWTManager
from flask_jwt_extended import view_decorators as jwt_view_decorators
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest.spec import prepare_response
from marshmallow import Schema, fields

from mongo_todos.web import errors
from mongo_todos.web.openapi import ContractPlugin, problem_response
from mongo_todos.web.openapi_document import ContractSpec, problem_types_markdown
from mongo_todos.web.request_body import parser


class CachingJWTManager(JWTManager):
    """Flask-JWT-Extended, remembering tokens whose signature it has verified.

    A client sends the same access token with every request for its lifetime, and verifying
    it (PyJWT: base64, JSON, HMAC) was the largest single cost of a request, twice over (the
    rate limiter's key and the view each decode it). Verified claims are kept per app, keyed
    by the exact token string, with the token's header (the library reads it again, unverified,
    right after the claims: :func:`_unverified_header`); a cached token is still refused once
    expired (it then goes through the full decode, which raises the usual error), and
    revocation is still checked on every request by the blocklist callback, which this cache
    does not touch.
    """

    MAX_CACHED = 10_000

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        cache = current_app.extensions.setdefault(_VERIFIED_JWTS, {})
        entry = cache.get(encoded_token)
        if entry is not None and csrf_value is None and entry[0]["exp"] > time.time():
            return dict(entry[0])
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if not allow_expired and csrf_value is None and "exp" in claims:
            if len(cache) >= self.MAX_CACHED:
                cache.clear()
            cache[encoded_token] = (claims, _library_unverified_header(encoded_token))
        return dict(claims)


_VERIFIED_JWTS = "mongo_todos_verified_jwts"
_library_unverified_header = jwt_view_decorators.get_unverified_jwt_headers


def _unverified_header(encoded_token: str) -> dict:
    """The header of a token :class:`CachingJWTManager` verified, from its cache; any other
    token's as the library reads it. ``verify_jwt_in_request`` parses the header of the token
    it has just decoded again (PyJWT: base64 and JSON once more), about 5 % of a GET."""
    entry = current_app.extensions.get(_VERIFIED_JWTS, {}).get(encoded_token)
    return dict(entry[1]) if entry is not None else _library_unverified_header(encoded_token)


# the library's module global, as its verify_jwt_in_request calls it (no hook or setting exists)
jwt_view_decorators.get_unverified_jwt_headers = _unverified_header
jwt = CachingJWTManager()


class ProblemSchema(Schema):
    """RFC 9457 problem details: the body of every error. ``type`` tells the problems a
    client must act on apart (see ``GET /api/v1/problems``); ``detail`` says it in words."""

    type = fields.String(required=True, metadata={
        "format": "uri-reference", "example": "/api/v1/problems/not-found",
        "description": "What kind of problem: a relative URI ``/api/v1/problems/<slug>`` "
                       "(same string on every host, resolvable against the API: "
                       + ", ".join(f"`{slug}`" for slug in errors.PROBLEM_TYPES)
                       + "), or `about:blank` for plain HTTP errors with nothing to add."})
    title = fields.String(required=True, metadata={
        "example": "Not found", "description": "A short summary of the type."})
    status = fields.Integer(required=True, metadata={
        "example": 404, "minimum": 400, "maximum": 599, "description": "The HTTP status."})
    detail = fields.String(required=True, metadata={
        "example": "No todo with this id.", "description": "This occurrence, in plain words."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages per field (dotted paths for nested ones), with 400 "
                                 "and 422", "example": {"name": ["Missing data for required "
                                                                 "field."]}},
    )


class Api(_Api):
    """flask-smorest's Api with problem+json error bodies, in responses and in the spec, and
    the document completed by :class:`~mongo_todos.web.openapi.ContractPlugin`."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app=None, *, spec_kwargs=None):
        spec_kwargs = dict(spec_kwargs or {})
        spec_kwargs.setdefault("extra_plugins", []).append(ContractPlugin())
        # relative: right for whatever host serves it (the served copy adds a proxy's prefix)
        spec_kwargs.setdefault("servers", [{"url": "/", "description": "The server this "
                                            "document was served from"}])
        info = spec_kwargs.setdefault("info", {})
        info["description"] = (info.get("description") or "") + "\n" + problem_types_markdown()
        super().__init__(app, spec_kwargs=spec_kwargs)

    def _init_spec(self, **kwargs):
        super()._init_spec(**kwargs)
        # the whole-document passes (openapi_document) on every build of the document
        self.spec.__class__ = ContractSpec

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)

    def _openapi_json(self):
        # the server is where this request came in: "/" on the host, or the prefix a trusted
        # proxy mounts the API under (X-Forwarded-Prefix), so /docs and clients call the API
        # there
        document = self.spec.to_dict()
        document["servers"] = [{"url": request.script_root or "/",
                                "description": "The server this document was served from"}]
        return current_app.response_class(json.dumps(document, indent=2),
                                          mimetype="application/json")

    def _register_responses(self):
        for status in http.HTTPStatus:
            if 400 <= status:
                response = problem_response(status, self.ERROR_SCHEMA)
            else:
                response = {"description": status.phrase}
            prepare_response(response, self.spec, errors.PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def _register_pagination_header(self):
        # flask-smorest's page-number pagination is not used (lists are cursor-paginated):
        # registering its header would leave an unused PaginationMetadata schema in the document
        pass


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint reading bodies through :mod:`mongo_todos.web.request_body`."""

    ARGUMENTS_PARSER = parser
