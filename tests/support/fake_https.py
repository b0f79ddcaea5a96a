"""What every in-process stand-in for a vendor API shares: serving HTTPS on loopback, and injected faults."""

from __future__ import annotations

import dataclasses
import io
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.tls import TestPki


@dataclass
class Fault:
    """One injected failure for the next request that matches `method` and a `path` prefix."""

    kind: str  # "status" | "timeout" | "drop"
    status: int = 503
    method: str | None = None
    path: str | None = None
    delay: float = 1.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or path.startswith(self.path))


@dataclass
class FaultQueue:
    """Faults waiting for their request; safe to share between the test and the server's threads."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    faults: list[Fault] = field(default_factory=list)

    def fail(self, kind: str, count: int = 1, **options: object) -> None:
        """Inject `count` faults; each hits the next request that matches `method`/`path` (a prefix)."""
        with self.lock:
            self.faults.extend(Fault(kind, **options) for _ in range(count))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.matches(method, path):
                    return self.faults.pop(index)
        return None


@dataclass(frozen=True)
class Exchange:
    """One answer a stand-in gave: the request's method and path (no query) and the status it answered; with the
    request's and the answer's bodies as sent (bytes, empty when none)."""

    method: str
    path: str
    status: int
    request: bytes = b""
    response: bytes = b""


class ServedUrl(str):
    """The base URL of a running stand-in; `exchanges` lists every answer it gave, in order."""

    exchanges: list[Exchange]


class _Tee(io.RawIOBase):
    """The connection's write side, keeping a copy of what one request's answer writes."""

    def __init__(self, target: Any) -> None:
        self.target, self.copy = target, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.copy += bytes(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def _recording(handler: type[BaseHTTPRequestHandler], exchanges: list[Exchange]) -> type[BaseHTTPRequestHandler]:
    class Recorded(handler):  # type: ignore[valid-type, misc]
        def handle_one_request(self) -> None:
            connection_in, connection_out = self.rfile, self.wfile
            self._request_body, self._recorded = b"", None
            self.wfile = tee = _Tee(connection_out)
            try:
                super().handle_one_request()
            finally:
                self.rfile, self.wfile = connection_in, connection_out
            if self._recorded is not None:
                _head, _, body = bytes(tee.copy).partition(b"\r\n\r\n")
                exchanges[self._recorded] = dataclasses.replace(exchanges[self._recorded],
                                                               request=self._request_body, response=body)

        def parse_request(self) -> bool:
            parsed = super().parse_request()
            if parsed:
                length = int(self.headers.get("Content-Length") or 0)
                self._request_body = self.rfile.read(length) if length else b""
                self.rfile = io.BytesIO(self._request_body)
            return parsed

        def send_response(self, code: int, message: str | None = None) -> None:
            self._recorded = len(exchanges)
            exchanges.append(Exchange(self.command, urlsplit(self.path).path, code))
            super().send_response(code, message)

    return Recorded


@contextmanager
def serve_https(handler: type[BaseHTTPRequestHandler], pki: TestPki) -> Iterator[ServedUrl]:
    """Serve `handler` over TLS (the test PKI's server certificate) on a free loopback port; yield the base URL,
    whose `exchanges` records the method, path and status of every answer (a dropped connection has none)."""
    exchanges: list[Exchange] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _recording(handler, exchanges))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = ServedUrl(f"https://127.0.0.1:{server.server_address[1]}")
        url.exchanges = exchanges
        yield url
    finally:
        server.shutdown()
        server.server_close()
