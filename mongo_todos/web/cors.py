"""CORS for browser clients on other origins: only the ones ``CORS_ORIGINS`` names, only
under ``/api/``, with the request and response headers the API's contract uses."""

from __future__ import annotations

from flask import Flask

from mongo_todos import settings


def init_app(app: Flask) -> None:
    """Answer preflights and mark responses for ``CORS_ORIGINS`` (nothing when it is empty)."""
    origins = app.config["CORS_ORIGINS"]
    if not origins:
        return
    from flask_cors import CORS  # start-up cost: loaded only when an origin is allowed

    CORS(
        app,
        # compiled whole-origin patterns: a bare string would be a prefix regex to flask-cors
        resources={r"/api/*": {"origins": settings.cors_origin_patterns(origins)}},
        allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match",
                       "Idempotency-Key", "X-Request-ID"],
        expose_headers=["ETag", "Link", "Location", "Retry-After", "X-RateLimit-Limit",
                        "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-ID"],
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        max_age=600,
        vary_header=True,
    )
