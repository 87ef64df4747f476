"""Conditional requests on todos: ``If-Match`` (or ``If-Unmodified-Since``) for writes,
``If-None-Match`` for reads.

This is header evaluation (RFC 9110 section 13), kept apart from ``store.py``: it reads the
request and the ``REQUIRE_IF_MATCH`` setting and answers 428/412 in HTTP terms, while the store
only ever sees its outcome, a plain condition on ``version`` inside the write's filter (so the
check and the write stay one atomic operation).
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app, request
from flask_smorest import abort

from mongo_todos.dates import to_storage

# validated with fullmatch, never match + "$" (which also matches before a final newline)
_VERSION = re.compile(r"[0-9]{1,18}")


def if_match(query: dict) -> dict:
    """``query`` (a todo's owner-scoped filter) plus the request's ``If-Match`` as a condition
    on ``version``; unchanged when the header is absent (428 if the app requires it) or ``*``."""
    query = dict(query)
    tags = request.if_match
    if not tags and request.headers.get("If-Match", "").strip():
        # sent but unparseable (an unterminated quote, say): it matches no version, it is
        # not a missing header (which would write unconditionally)
        query["version"] = {"$in": []}
        return query
    if not tags:
        if current_app.config["REQUIRE_IF_MATCH"]:
            abort(428, message="This write needs an If-Match header with the todo's ETag.")
        return _if_unmodified_since(query)
    if tags.star_tag:
        return query
    strong = tags.as_set(include_weak=False)
    if not strong:
        # W/ tags never match in the strong comparison a write uses (RFC 9110 13.1.1): say
        # so, rather than that the todo changed (a refetch would give the same strong ETag)
        abort(412, message="Weak ETags (W/...) cannot be used for writes: send the todo's ETag "
                           "as the server returned it.", type="etag-weak")
    query["version"] = {"$in": _versions(strong, f"{query['_id']}.")}
    return query


def _if_unmodified_since(query: dict) -> dict:
    """``query`` plus the request's ``If-Unmodified-Since`` (RFC 9110 13.1.4, used only
    without If-Match) as a condition on ``updated_at``: the write happens only if the todo was
    last changed at or before that date, else 412. An HTTP date counts whole seconds, so a
    change within the date's second still counts as "not after" it. A date that does not parse
    is ignored, as the RFC asks."""
    since = request.if_unmodified_since
    if since is None:
        return query
    return {**query, "updated_at": {"$lt": to_storage(since) + timedelta(seconds=1)}}


def _versions(tags, prefix: str) -> list[int]:
    """The versions of this todo that the entity-tags ``tags`` name (others are ignored)."""
    versions = []
    for tag in tags:
        # an empty entity-tag ("") parses as None: it matches no version
        if tag and tag.startswith(prefix) and _VERSION.fullmatch(tag[len(prefix):]):
            versions.append(int(tag[len(prefix):]))
    return versions


def not_modified(tag: str) -> bool:
    """Whether the request's ``If-None-Match`` holds ``tag`` (unquoted): the client's copy is
    current (weak comparison, as RFC 9110 asks for reads)."""
    return request.if_none_match.contains_weak(tag)
