"""Opening a clip's source with PyAV, whatever it is and wherever it lives.

Local paths and file:// open directly; http(s):// is read by FFmpeg with range requests (seeking fetches
only the bytes needed, never the whole file); s3:// goes through the blob layer as a presigned URL. The
decode device (NVDEC or CPU) is chosen here. Failures become BadInput with a reason a user can act on
(missing, empty, too big, not a video), or propagate as retryable (network trouble, HTTP 5xx).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

import av
import av.error
from av.codec.hwaccel import HWAccel
from av.container import InputContainer

from services.framegrid.settings import FramegridSettings
from shared.blobstore import readable_url
from shared.runtime.errors import BadInput, Fatal

log = logging.getLogger(__name__)

_CLIENT_ERRORS = (
    av.error.HTTPBadRequestError,
    av.error.HTTPUnauthorizedError,
    av.error.HTTPForbiddenError,
    av.error.HTTPNotFoundError,
    av.error.HTTPOtherClientError,
)


def open_source(uri: str, settings: FramegridSettings) -> InputContainer:
    """An open container for `uri`; the caller closes it (use `with`)."""
    target, options = _locate(uri, settings)
    timeout = settings.http_timeout_s
    try:
        container = av.open(target, options=options, timeout=(timeout, timeout), hwaccel=hwaccel(settings))
    except (FileNotFoundError, av.error.FileNotFoundError) as e:
        raise BadInput(f"source not found: {uri}") from e
    except _CLIENT_ERRORS as e:
        raise BadInput(f"source refused by its server ({e.strerror}): {_redact(uri)}") from e
    except (av.error.InvalidDataError, av.error.EOFError, av.error.PatchWelcomeError) as e:
        raise BadInput(f"not a readable video file ({e.strerror})") from e
    size = container.size if isinstance(container.size, int) else 0
    if size > settings.max_file_bytes:
        container.close()
        raise BadInput(
            f"file is {size} bytes, over the limit of {settings.max_file_bytes} (MIRA_MAX_FILE_BYTES)"
        )
    return container


def _locate(uri: str, settings: FramegridSettings) -> tuple[str, dict[str, str]]:
    """What to hand to av.open, with FFmpeg protocol options."""
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https", "s3"):
        url = readable_url(uri)  # s3:// becomes a presigned https URL
        us = str(int(settings.http_timeout_s * 1_000_000))
        # reconnect*: survive dropped connections mid-read; rw_timeout: a stalled server fails the read
        # instead of hanging a worker; multiple_requests: keep-alive across the range requests of seeks.
        return url, {
            "reconnect": "1",
            "reconnect_on_network_error": "1",
            "reconnect_delay_max": "4",
            "rw_timeout": us,
            "multiple_requests": "1",
        }
    if scheme not in ("", "file"):
        raise BadInput(f"unsupported source scheme {scheme!r}: use a path, file://, http(s):// or s3://")
    path = Path(unquote(urlparse(uri).path) if scheme == "file" else uri)
    if not path.is_file():
        raise BadInput(f"source not found: {uri}")
    size = path.stat().st_size
    if size == 0:
        raise BadInput("empty file (0 bytes)")
    if size > settings.max_file_bytes:
        raise BadInput(
            f"file is {size} bytes, over the limit of {settings.max_file_bytes} (MIRA_MAX_FILE_BYTES)"
        )
    return str(path), {}


class SourceError(Exception):
    """Reading the source failed in a way worth retrying (network, HTTP 5xx). FFmpeg's own messages name
    the URL, whose query may hold credentials (presigned S3 URLs): this one never does."""


@contextmanager
def source_errors(uri: str) -> Iterator[None]:
    try:
        yield
    except av.error.FFmpegError as e:
        raise SourceError(f"reading {_redact(uri)} failed: {e.strerror} ({type(e).__name__})") from None


def _redact(uri: str) -> str:
    """Presigned and token-bearing URLs carry credentials in the query: never put those in a reason."""
    return uri.split("?", 1)[0]


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether an NVDEC device can be opened here (driver libraries present and a GPU visible)."""
    try:
        HWAccel(device_type="cuda").create(av.Codec("h264", "r"))
    except (av.error.FFmpegError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=4)
def decode_device(setting: str) -> str:
    """'cuda' or 'cpu' for MIRA_DECODE_DEVICE; logs the CPU fallback of `auto` once per process."""
    if setting == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if setting == "cuda":
        raise Fatal("MIRA_DECODE_DEVICE=cuda but no CUDA device could be opened (driver or GPU missing)")
    log.warning("no CUDA device available: decoding on CPU (MIRA_DECODE_DEVICE=auto)")
    return "cpu"


def hwaccel(settings: FramegridSettings) -> HWAccel | None:
    if decode_device(settings.decode_device) == "cpu":
        return None
    # Software fallback covers streams NVDEC cannot take (e.g. 4:2:2, some profiles) instead of failing them.
    return HWAccel(device_type="cuda", allow_software_fallback=True)
