"""Flask's JSON provider, encoding with orjson: every response body is JSON.

The provider the app had (flask-mongoengine's: Flask's, plus ObjectIds and documents) stays
in charge of what it alone decides: its ``default`` still converts whatever orjson does not
encode itself (dates as HTTP dates, as Flask does; ObjectIds; decimals; dataclasses), its
``sort_keys`` still holds, and anything orjson refuses (an integer beyond 64 bits, a dict
with mixed key types) or a pretty-printed body (debug mode, an ``indent``) is encoded by the
provider itself. What changes is the speed: orjson encodes a todo page several times faster
than ``json.dumps``, and non-ASCII text is sent as UTF-8 instead of ``\\u`` escapes (the same
JSON). Reading JSON (``loads``) is left as it was: request bodies go through
mongo_todos.web.request_body's strict reader.
"""

from __future__ import annotations

import orjson
from flask import Flask

#: Types orjson would encode its own way where Flask's provider encodes them differently.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def use_orjson(app: Flask) -> None:
    """Swap the app's JSON provider for one that encodes with orjson (call after every
    extension that installs its own provider)."""
    base = type(app.json)

    class OrjsonProvider(base):
        def _options(self) -> int:
            return _PASSTHROUGH | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)

        def dumps(self, obj, **kwargs) -> str:
            if kwargs.keys() <= {"separators"}:  # compact output, what orjson writes
                try:
                    return orjson.dumps(obj, default=self.default, option=self._options()).decode()
                except TypeError:  # orjson.JSONEncodeError included
                    pass
            return super().dumps(obj, **kwargs)

        def response(self, *args, **kwargs):
            if self.compact is False or (self.compact is None and self._app.debug):
                return super().response(*args, **kwargs)  # indented
            obj = self._prepare_response_obj(args, kwargs)
            try:
                body = orjson.dumps(obj, default=self.default,
                                    option=self._options() | orjson.OPT_APPEND_NEWLINE)
            except TypeError:
                return super().response(*args, **kwargs)
            return self._app.response_class(body, mimetype=self.mimetype)

    OrjsonProvider.__name__ = OrjsonProvider.__qualname__ = f"Orjson{base.__name__}"
    sort_keys = app.json.sort_keys
    app.json_provider_class = OrjsonProvider
    app.json = OrjsonProvider(app)
    app.json.sort_keys = sort_keys
