"""Fixtures of the web layer's tests."""

import pytest


@pytest.fixture
def limited(make_app):
    """An app with rate limits on (the test settings switch them off), built from ``env``:
    ``app, client = limited(RATELIMIT_DEFAULT="5 per minute")``."""

    def _make(**env):
        app = make_app(env={"RATELIMIT_ENABLED": "true", **env})
        return app, app.test_client()

    return _make
