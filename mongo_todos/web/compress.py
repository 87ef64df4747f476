"""gzip for answers of 1 KiB or more, when the request's ``Accept-Encoding`` allows it.

An ``after_request`` hook, registered first so it runs last (Flask runs them in reverse):
every other hook has shaped the body by then. A 100-todo page is 33.8 KB as JSON and about
6 KB gzipped; a syncing client's first download shrinks about six times.

Choices, and why:

- **ETags stay as they are.** A todo's ETag names its version (``"<id>.<version>"``), the
  value in the body's ``etag`` too; clients send it back in ``If-Match`` whatever encoding
  they read it in. Making it weak when compressing (nginx's way) would turn every
  ``If-Match`` taken from a compressed answer into a 412 (writes compare strongly); giving the
  gzip variant its own tag (Apache's ``-gzip`` suffix) would break "the body's ``etag`` is the
  header's". What a strong ETag shared by two encodings could break is byte ranges spliced
  across them; so a request with ``Range``, an answer that offers ranges (``Accept-Ranges``),
  and a 206 are never compressed, and answers are ``private`` (no shared cache mixes them).
- ``Vary: Accept-Encoding`` on every answer, compressed or not: the answer depends on it.
- Not compressed: HEAD (no body; its headers say what an identity GET would), 1xx/204/304,
  streamed or file answers (``direct_passthrough``: /docs/static, downloads; the proxy
  compresses those), and anything already encoded.
- Level 6 (zlib's default): within a few percent of 9's size at a fraction of its time.
"""

from __future__ import annotations

import gzip

from flask import Flask, request

#: Answers shorter than this go as they are: gzip's header and the CPU would not pay off.
MIN_SIZE = 1024
LEVEL = 6


def init_app(app: Flask) -> None:
    app.after_request(compress)


def compress(response):
    headers = response.headers
    # as a string: response.vary parses the header into a set and writes it back, quoted
    vary = headers.get("Vary")
    if vary is None:
        headers["Vary"] = "Accept-Encoding"
    elif "accept-encoding" not in vary.lower():
        headers["Vary"] = f"{vary}, Accept-Encoding"
    if (response.status_code < 200 or response.status_code in (204, 206, 304)
            or response.direct_passthrough or response.is_streamed
            or request.method == "HEAD"):
        return response
    data = response.get_data()
    # the size first: most answers are short, and the rest needs the request's headers parsed
    if (len(data) < MIN_SIZE or "Content-Encoding" in headers or "Range" in request.headers
            or headers.get("Accept-Ranges", "none") != "none"
            or not request.accept_encodings["gzip"]):
        return response
    response.set_data(gzip.compress(data, compresslevel=LEVEL, mtime=0))
    headers["Content-Encoding"] = "gzip"
    return response
