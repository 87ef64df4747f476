"""A scripted MongoDB server on a loopback port, speaking just enough of the wire protocol for
the real pymongo driver: it answers the handshake as the primary of a one-member replica set
(``replica_set``, "rs0" unless told; ``None`` makes it a standalone), so the driver uses
sessions, retryable writes and its retry paths as against a production deployment; then it
answers each command with what the test's ``script`` returns (a reply document, or ``HANG`` to
accept and never answer, or ``DROP`` to close the connection). It lets driver failures that
mongomock cannot produce (a server that stops answering, a write-concern error, a primary that
steps down) be injected for real.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import bson

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
HANG, DROP = object(), object()
_HANDSHAKE = {"ismaster", "isMaster", "hello"}


def hello_reply(replica_set: str | None = None, host: str = "") -> dict:
    reply = {"ismaster": True, "isWritablePrimary": True, "helloOk": True,
            "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000, "localTime": datetime.now(UTC),
            "connectionId": 1, "minWireVersion": 0, "maxWireVersion": 21, "readOnly": False,
            "ok": 1.0}
    if replica_set:
        # a primary that never changes (one election). No topologyVersion: with it the driver
        # streams hello and expects the server to hold each answer, which this one does not do
        reply.update({"setName": replica_set, "hosts": [host], "me": host, "primary": host,
                      "setVersion": 1, "electionId": bson.ObjectId("7fffffff0000000000000001"),
                      "logicalSessionTimeoutMinutes": 30, "secondary": False})
    return reply


def empty_cursor(command: dict, db: str) -> dict:
    collection = command.get("find") or command.get("aggregate")
    return {"cursor": {"id": bson.Int64(0), "ns": f"{db}.{collection}", "firstBatch": []},
            "ok": 1.0}


class FakeMongo:
    """``with FakeMongo(script) as server: server.uri`` -- ``script(name, command)`` gives the
    reply to every non-handshake command (``name`` is the command's name)."""

    def __init__(self, script: Callable[[str, dict], object], *, handshake: bool = True,
                 replica_set: str | None = "rs0"):
        self.script = script
        self.replica_set = replica_set
        self.handshake = handshake  # False: the handshake goes to the script too
        self.commands: list[str] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []

    @property
    def uri(self) -> str:
        uri = f"mongodb://{self.host}/mongo_todos"
        return f"{uri}?replicaSet={self.replica_set}" if self.replica_set else uri

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket):
        try:
            while not self._stop.is_set():
                header = _read(sock, 16)
                length, request_id, _, opcode = struct.unpack("<iiii", header)
                body = _read(sock, length - 16)
                db, command = _parse(opcode, body)
                name = next(iter(command))
                if name in _HANDSHAKE and self.handshake:
                    reply = hello_reply(self.replica_set, self.host)
                else:
                    self.commands.append(name)
                    reply = self.script(name, command)
                    if reply is HANG:
                        self._stop.wait(60)
                        return
                    if reply is DROP:
                        return
                    if reply is None:
                        reply = empty_cursor(command, db)
                sock.sendall(_encode(opcode, request_id, reply))
        except (OSError, ConnectionError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _parse(opcode: int, body: bytes) -> tuple[str, dict]:
    if opcode == OP_QUERY:  # the legacy handshake: flags, "db.$cmd", skip, limit, query
        end = body.index(b"\x00", 4)
        namespace = body[4:end].decode()
        start = end + 1 + 8
        size = struct.unpack("<i", body[start:start + 4])[0]
        return namespace.split(".")[0], bson.decode(body[start:start + size])
    if opcode == OP_MSG:  # flags, then sections: kind 0 is the command, kind 1 a named list
        offset, command, sequences = 4, None, {}  # of documents (an insert's, say) beside it
        while offset < len(body):
            kind = body[offset]
            size = struct.unpack("<i", body[offset + 1:offset + 5])[0]
            section = body[offset + 1:offset + 1 + size]
            if kind == 0:
                command = bson.decode(section)
            else:
                end = section.index(b"\x00", 4)
                sequences[section[4:end].decode()] = bson.decode_all(section[end + 1:])
            offset += 1 + size
        if command is not None:
            return command.get("$db", "admin"), {**command, **sequences}
    raise ConnectionError(f"unsupported opcode {opcode}")


def _encode(opcode: int, request_id: int, reply: dict) -> bytes:
    document = bson.encode(reply)
    if opcode == OP_QUERY:
        payload = struct.pack("<iqii", 0, 0, 0, 1) + document
        op = OP_REPLY
    else:
        payload = struct.pack("<I", 0) + b"\x00" + document
        op = OP_MSG
    return struct.pack("<iiii", 16 + len(payload), request_id + 1, request_id, op) + payload
