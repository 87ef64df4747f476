"""The app's Response (mongo_todos.web.headers) hands the server the same headers as
Werkzeug's would: only its copy of them on the way out differs (no second check of values
already checked). Compared on the answers that matter, and in use through the app."""

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from mongo_todos.web.headers import Response

API_HEADERS = [("ETag", '"v3"'), ("X-Request-Id", "abc.1"), ("RateLimit-Limit", "60"),
               ("Cache-Control", "private, no-cache"), ("Vary", "Authorization")]


def _response(status=200, body=b'{"a": 1}', extra=(), autocorrect=False, stream=False):
    response = Response((b for b in [body]) if stream else body, status=status,
                        mimetype="application/json")
    for key, value in (*API_HEADERS, *extra):
        response.headers.add(key, value)
    response.autocorrect_location_header = autocorrect
    return response


CASES = {
    "a 200 with many headers": _response(),
    "a 201 with an absolute Location": _response(
        201, extra=[("Location", "http://api.example/api/v1/todos/5f0c0ffee0ddba11deadbeef")]),
    "an IRI Location, with a host in capitals and a port": _response(
        201, extra=[("Location", "http://EXAMPLE.com:080/p\u00e5th?q=\u00e8ry%DF#frag")]),
    "a relative Location, made absolute": _response(
        303, extra=[("Location", "../todos/1?x=1")], autocorrect=True),
    "a relative Location, kept": _response(303, extra=[("Location", "/todos/\u2603")]),
    "a Content-Location": _response(extra=[("Content-Location", "/api/v1/todos/\u00e9")]),
    "a 204 that had a length": _response(204, b"", extra=[("Content-Length", "0")]),
    "a 304 with entity headers": _response(
        304, extra=[("Content-Encoding", "gzip"), ("Expires", "0"), ("Content-Language", "en")]),
    "a 101": _response(101, b""),
    "a length set already": _response(extra=[("Content-Length", "8")]),
    "a streamed body (no length)": _response(stream=True),
    "repeated headers": _response(extra=[("Vary", "Accept-Encoding"), ("Link", "<a>; rel=x"),
                                         ("Link", "<b>; rel=y")]),
}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("case", CASES)
def test_the_same_headers_as_werkzeugs(case, method):
    environ = EnvironBuilder(path="/api/v1/todos/x", base_url="http://api.example:8000/",
                             method=method).get_environ()
    response = CASES[case]
    before = response.headers.to_wsgi_list()
    ours = response.get_wsgi_headers(environ)
    theirs = WerkzeugResponse.get_wsgi_headers(response, environ)
    assert ours.to_wsgi_list() == theirs.to_wsgi_list()
    # a copy: the response's own headers are as they were, and stay apart from the copy
    assert response.headers.to_wsgi_list() == before
    ours.add("X-After", "1")
    assert "X-After" not in response.headers


def test_headers_of_another_kind_take_werkzeugs_own_copy():
    class Checked(Headers):
        pass

    response = _response(201, extra=[("Location", "/todos/1")])
    response.headers = Checked(response.headers)
    environ = EnvironBuilder(path="/").get_environ()
    assert response.get_wsgi_headers(environ).to_wsgi_list() == \
        WerkzeugResponse.get_wsgi_headers(response, environ).to_wsgi_list()


def test_the_app_answers_with_it(app, client, auth):
    assert app.response_class is Response
    created = client.post("/api/v1/todos", json={"name": "x"}, headers=auth.headers())
    assert created.status_code == 201
    assert created.headers["Location"].startswith("http://localhost/api/v1/todos/")
    assert created.headers["Content-Length"] == str(len(created.get_data()))
    revalidated = client.get(created.headers["Location"], headers={
        **auth.headers(), "If-None-Match": created.headers["ETag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["ETag"] == created.headers["ETag"]
    assert "Content-Length" not in revalidated.headers and revalidated.get_data() == b""
