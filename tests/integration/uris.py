"""Test database URIs derived from the server's ``MONGODB_URI``."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def with_database(uri: str, name: str) -> str:
    """``uri`` pointing at database ``name``, authenticating where ``uri`` did.

    The path of a MongoDB URI is also the default authentication database: with credentials
    and no ``authSource``, changing the path would log in against the test database, where the
    user does not exist. Keep the original one (``admin`` when the URI had no path). Not for
    ``mongodb+srv``: its DNS TXT record may name the authentication database (Atlas's does),
    and an explicit one would override it.
    """
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    has_source = any(key.lower() == "authsource" for key, _ in query)
    if "@" in parts.netloc and not has_source and parts.scheme == "mongodb":
        query.append(("authSource", parts.path.strip("/") or "admin"))
    return urlunsplit(parts._replace(path=f"/{name}", query=urlencode(query)))
