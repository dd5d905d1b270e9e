"""A local HTTP server with Range support that counts the bytes it sends, so tests and the benchmark can
show that FFmpeg reads a remote video by range requests instead of downloading it; it can also send slowly,
as a source far away or one that trickles does."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 16 * 1024
SEND_BUFFER = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients drop connections whenever they seek: that is normal here, not worth a traceback."""


@dataclass
class Served:
    bytes_sent: int = 0
    requests: list[str] = field(default_factory=list)  # "GET /name bytes=0-" per request
    fail_with: int | None = None  # answer every request with this status (a server in trouble)
    redirects: dict[str, str] = field(default_factory=dict)  # "/name" -> Location of a 302 answer
    bytes_per_s: float | None = None  # send each response no faster than this (a slow or trickling source)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.bytes_sent += n


@contextmanager
def serve_directory(root: Path, tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, Served]]:
    """Serve `root` on a free loopback port (over TLS with `tls`); yields (base URL, counters)."""
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as FFmpeg's multiple_requests expects

        def setup(self) -> None:
            super().setup()
            # A small send buffer keeps "bytes sent" close to "bytes the client read": what the kernel
            # buffers for a response the client abandons after a seek is never consumed.
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._respond(body=False)

        def do_GET(self) -> None:
            self._respond(body=True)

        def _respond(self, body: bool) -> None:
            path = root / self.path.lstrip("/").split("?")[0]
            served.requests.append(f"{self.command} {self.path} {self.headers.get('Range', '')}")
            if self.path.split("?")[0] in served.redirects:
                self.send_response(302)
                self.send_header("Location", served.redirects[self.path.split("?")[0]])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if served.fail_with or not path.is_file():
                self.send_response(served.fail_with or 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            size = path.stat().st_size
            start, end = 0, size - 1
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
            if match:
                start = int(match[1] or 0)
                end = min(int(match[2]), size - 1) if match[2] else size - 1
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            if body:
                self._send_file(path, start, end)

        def _send_file(self, path: Path, start: int, end: int) -> None:
            with path.open("rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(CHUNK, left))
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        return  # the client seeked elsewhere and dropped this response
                    served.add(len(chunk))
                    left -= len(chunk)
                    if served.bytes_per_s:
                        time.sleep(len(chunk) / served.bytes_per_s)

    server = _Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
