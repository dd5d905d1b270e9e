"""Naming a URL source's host problem before anything is submitted: FFmpeg reports an unresolvable host as
"Input/output error", which says nothing about DNS."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def dns_problem(uri: str) -> str | None:
    """Why the host of an http(s) URL cannot be resolved, or None (other sources are not checked here)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    try:
        socket.getaddrinfo(parsed.hostname, parsed.port or parsed.scheme, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"DNS lookup failed for host {parsed.hostname!r} ({exc.strerror})"
    except (UnicodeError, OSError) as exc:
        return f"cannot resolve host {parsed.hostname!r}: {exc}"
    return None
