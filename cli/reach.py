"""Naming a source's problem before anything is submitted or started: a local file that is not there (the
pipeline would otherwise be started only to dead-letter it), and a URL whose host does not resolve (FFmpeg
reports that as "Input/output error", which says nothing about DNS)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import unquote, urlparse


def local_problem(uri: str) -> str | None:
    """Why a file:// source cannot be read from here, or None (other sources are not checked here)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = Path(unquote(parsed.path))
    if not path.exists():
        return "source not found"
    if not path.is_file():
        return "source is not a regular file"
    if not os.access(path, os.R_OK):
        return "source cannot be read (permission denied)"
    return None


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
