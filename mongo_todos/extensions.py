"""Extensions, created once at import and bound to an app by ``create_app``."""

from __future__ import annotations

from flask_jwt_extended import JWTManager
from flask_mongoengine import MongoEngine
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint

from . import errors
from .body import parser


class Api(_Api):
    """flask-smorest's Api with problem+json error bodies."""

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint reading bodies through :mod:`mongo_todos.body`."""

    ARGUMENTS_PARSER = parser


db = MongoEngine()
jwt = JWTManager()
