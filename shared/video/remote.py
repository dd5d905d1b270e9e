"""http(s) sources read by range requests through our own client, so that every hop is checked.

The host is resolved once; every address must be allowed (public, or the host named exactly in
MIRA_ALLOWED_SOURCES) and the connection goes to that checked address, never to a second lookup (DNS
rebinding). Each redirect is checked the same way before it is followed. A seek only moves the position: the
open response is kept while reads continue where it is, and a read elsewhere asks for `bytes=POS-` on a
new connection, so a seek-heavy sample reads a few MB of a large file, never all of it. Connect and read
timeouts bound each call, and the clip's budget (deadline, bytes) bounds them all.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import urljoin, urlsplit

from shared.runtime.errors import BadInput
from shared.sources.addresses import IPAddress, resolve
from shared.sources.policy import SourcePolicy, SourceRefused, Url
from shared.video.reading import ReadBudget, check_size

MAX_REDIRECTS = 5
REDIRECTS = {301, 302, 303, 307, 308}
SKIP_AHEAD = 64 * 1024  # a forward seek this short reads on through the open response instead of reconnecting
_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


class SourceError(Exception):
    """Reading the source failed in a way worth retrying (network, HTTP 5xx). Messages never carry the URL's
    query, which may hold credentials (presigned S3 URLs)."""


def redact(uri: str) -> str:
    return uri.split("?", 1)[0]


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    tls: bool
    addresses: tuple[IPAddress, ...]


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand (the Host header keeps the name)."""

    address = ""

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    address = ""

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = _tls().wrap_socket(sock, server_hostname=self.host)  # the certificate must name the host


class HttpReader:
    """A seekable file over an http(s) URL, for av.open. `trusted`: the URL is our own presigned S3 URL to the
    configured endpoint (whose address the operator chose), so only its redirects are checked."""

    def __init__(self, url: str, policy: SourcePolicy, budget: ReadBudget, timeouts: tuple[float, float],
                 *, trusted: bool = False) -> None:
        self.policy, self.budget = policy, budget
        self.connect_timeout, self.read_timeout = timeouts
        self.name = redact(url)  # FFmpeg's name for the input: error messages, relative playlist entries
        self.target = self._checked(url, trusted)
        self.pos, self.size = 0, cast(int | None, None)
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._resp_pos = 0
        self._open(0)  # the first request now: a refusal, a 404 or the size is known at open
        if self.size is not None:
            check_size(self.size, budget.max_bytes)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}.get(whence)
        if base is None or base + offset < 0:
            return -1  # the size of a stream without Content-Length is unknown: FFmpeg copes
        self.pos = base + offset
        return self.pos

    def read(self, n: int = -1) -> bytes:
        self.budget.check_time()
        if n == 0 or (self.size is not None and self.pos >= self.size):
            return b""
        if self._resp is not None and 0 < self.pos - self._resp_pos <= SKIP_AHEAD:
            self._discard(self.pos - self._resp_pos)
        if (self._resp is None or self._resp_pos != self.pos) and not self._open(self.pos):
            return b""
        data = self._read1(n if n > 0 else SKIP_AHEAD)
        dropped = not data and self.size is not None and self.pos < self.size
        if dropped and self._open(self.pos):  # the connection closed mid-body: ask once more
            data = self._read1(n if n > 0 else SKIP_AHEAD)
        self.pos += len(data)
        self._resp_pos = self.pos
        return data

    def close(self) -> None:
        self._drop()

    def _read1(self, n: int) -> bytes:
        assert self._resp is not None and self._conn is not None
        if self._conn.sock is not None:
            self._conn.sock.settimeout(max(0.01, min(self.read_timeout, self.budget.remaining_s())))
        try:
            data = self._resp.read1(n)
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            self.budget.check_time()
            raise SourceError(f"reading {self.name} failed: {type(e).__name__} {e}".strip()) from None
        self.budget.spend(len(data))
        return data

    def _discard(self, n: int) -> None:
        while n > 0 and self._resp is not None:
            data = self._read1(min(n, SKIP_AHEAD))
            if not data:
                self._drop()
                return
            n -= len(data)
            self._resp_pos += len(data)

    def _open(self, pos: int) -> bool:
        """A response whose body starts at `pos`; False at the end of the file."""
        self._drop()
        for _ in range(MAX_REDIRECTS + 1):
            conn, resp = self._request(pos)
            if resp.status not in REDIRECTS:
                break
            location = resp.getheader("Location")
            conn.close()
            if not location:
                raise BadInput(f"source redirected without a Location (HTTP {resp.status})")
            self.target = self._checked(urljoin(self.target.url, location), trusted=False)
        else:
            raise BadInput(f"source redirected more than {MAX_REDIRECTS} times")
        self._conn, self._resp, self._resp_pos = conn, resp, pos
        return self._accept(resp, pos)

    def _accept(self, resp: http.client.HTTPResponse, pos: int) -> bool:
        if resp.status == 206:
            match = _RANGE.match(resp.getheader("Content-Range") or "")
            if not match or int(match[1]) != pos:
                raise SourceError(f"reading {self.name} failed: a range response for the wrong bytes") from None
            self.size = int(match[2]) if match[2] != "*" else self.size
            return True
        if resp.status == 200:
            length = resp.getheader("Content-Length")
            self.size = int(length) if length and length.isdigit() else self.size
            self._resp_pos = 0
            self._discard(pos)  # a server without ranges: read on to the position
            return self._resp is not None
        if resp.status == 416:
            self._drop()
            return False
        self._drop()
        if 400 <= resp.status < 500:
            raise BadInput(f"source refused by its server (HTTP {resp.status})")
        raise SourceError(f"reading {self.name} failed: HTTP {resp.status}") from None  # never chained to a URL

    def _request(self, pos: int) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        target = self.target
        parts = urlsplit(target.url)
        headers = {"Range": f"bytes={pos}-", "Accept-Encoding": "identity", "User-Agent": "mira-framegrid"}
        if parts.username is not None:
            token = f"{parts.username}:{parts.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        last: OSError | None = None
        for address in target.addresses:
            cls = _PinnedTLS if target.tls else _Pinned
            conn = cls(target.host, target.port, timeout=min(self.connect_timeout, max(0.01, self.budget.remaining_s())))
            conn.address = str(address)
            try:
                conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers)
                conn.sock.settimeout(min(self.read_timeout, max(0.01, self.budget.remaining_s())))
                return conn, conn.getresponse()
            except ssl.SSLCertVerificationError as e:
                conn.close()
                raise BadInput(f"the TLS certificate of {target.host} failed verification ({e.verify_message})") from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                last = e if isinstance(e, OSError) else OSError(str(e))
        self.budget.check_time()
        raise SourceError(f"reading {self.name} failed: {type(last).__name__} {last or ''}".strip()) from None

    def _checked(self, url: str, trusted: bool) -> Target:
        """The URL with the addresses it may be read from; SourceRefused when the policy says no."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise SourceRefused(f"scheme {parts.scheme!r}")
        rule = None if trusted else self.policy.url_rule(url)
        where = Url.parse(url)
        try:
            addresses = resolve(where.host, where.port)
        except OSError:
            raise SourceError(f"reading {redact(url)} failed: {where.host} could not be resolved") from None
        if not trusted:
            for address in addresses:
                self.policy.check_address(rule, address, where.host)
        return Target(url, parts.hostname or where.host, where.port, where.scheme == "https", tuple(addresses))

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._resp = None, None
