"""gunicorn's gevent worker with a cap on connections per client address.

A gevent worker serves at most ``worker_connections`` (1,000) connections at once, idle ones
included: one address holding 1,100 idle connections made every other client wait seconds for a
slot. Behind the deployment's nginx that cap is nginx's (``limit_conn``); the quick start
(``python -m mongo_todos``) and a gunicorn run without a proxy have no proxy, so this worker
counts the connections each address holds and answers a connection past
``CONNECTIONS_PER_ADDRESS`` (default 64, nginx's own limit here) with a 429 problem and closes
it, before reading a byte of it.

Addresses are keyed as the rate limits key them: an IPv4 address alone (an IPv4-mapped IPv6
address as its IPv4 address), an IPv6 address by its /64. Behind a proxy (``TRUSTED_PROXY_COUNT``
above 0) every connection comes from the proxy, so the cap is off: the proxy caps instead.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections import Counter

from gunicorn.workers.ggevent import GeventWorker

from mongo_todos.store import embedded_gc

DEFAULT_CAP = 64


def address_key(host: str) -> str:
    """The bucket of a peer address: IPv4 alone, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host  # a Unix socket's peer, say: one bucket of its own
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _cap(environ) -> int:
    """CONNECTIONS_PER_ADDRESS (0: no cap); no cap behind a trusted proxy."""
    if int(environ.get("TRUSTED_PROXY_COUNT") or 0) > 0:
        return 0
    raw = environ.get("CONNECTIONS_PER_ADDRESS") or str(DEFAULT_CAP)
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"CONNECTIONS_PER_ADDRESS={raw!r} is not a whole number") from None
    if value < 0:
        raise SystemExit(f"CONNECTIONS_PER_ADDRESS={raw!r} must be at least 0 (0: no cap)")
    return value


_REFUSAL = json.dumps({
    "type": "about:blank", "title": "Too Many Requests", "status": 429,
    "detail": "This address holds too many open connections; close some and retry.",
}).encode()
REFUSAL = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/problem+json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + str(len(_REFUSAL)).encode()
    + b"\r\n\r\n" + _REFUSAL
)


class CappedGeventWorker(GeventWorker):
    """gunicorn's gevent worker, refusing an address's connections past its cap; holding the
    embedded store (no ``MONGODB_URI``), it freezes the collector's survivors
    (mongo_todos.store.embedded_gc)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections_per_address = _cap(os.environ)
        self.open_connections: Counter[str] = Counter()

    def init_process(self):
        if not os.environ.get("MONGODB_URI"):
            embedded_gc.install()  # in the worker: after the fork, before serving
        super().init_process()

    def handle(self, listener, client, addr):
        cap = self.connections_per_address
        key = address_key(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
        if cap and self.open_connections[key] >= cap:
            try:
                client.sendall(REFUSAL)
            except OSError:
                pass
            finally:
                client.close()
            return
        self.open_connections[key] += 1
        try:
            super().handle(listener, client, addr)
        finally:
            self.open_connections[key] -= 1
            if not self.open_connections[key]:
                del self.open_connections[key]
