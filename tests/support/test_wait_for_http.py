"""The suite's own server helpers (tests/support/servers.py), which every loopback server test relies on."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from tests.support.servers import wait_for_http


class _Running:
    """Stands in for a Popen that has not exited."""

    def poll(self):
        return None


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_wait_for_http_waits_for_a_listening_server_that_answers_late():
    # gunicorn's master listens before its worker has booted: connections are accepted (by the
    # kernel) and the first requests time out; on a busy machine, for more than a second
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        server = HTTPServer(("127.0.0.1", port), _Ok, bind_and_activate=False)
        server.socket.close()
        server.socket = listener

        def answer_later():
            time.sleep(2.5)  # longer than wait_for_http's per-request timeout
            server.serve_forever(poll_interval=0.05)

        thread = threading.Thread(target=answer_later, daemon=True)
        thread.start()
        try:
            started = time.monotonic()
            wait_for_http(f"http://127.0.0.1:{port}/healthz", _Running(), timeout=30)
            assert time.monotonic() - started >= 2  # it did wait for the late answer
        finally:
            server.shutdown()
            thread.join(timeout=10)
