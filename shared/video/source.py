"""Opening a clip's source with PyAV, whatever it is and wherever it lives, and only within the policy.

The source is checked against MIRA_ALLOWED_SOURCES (shared/sources/policy.py) here again, because a topic
message can be forged; then FFmpeg reads it only through a reader of ours (shared/video/reading.py:
local files; remote.py: http(s), and s3:// as a presigned URL), never by a URL of its own. av.open gets a
demuxer whitelist: no playlist (hls, dash), concat or image-sequence demuxer, which would open further
files and URLs, unless MIRA_ALLOW_PLAYLISTS lets HLS and DASH fetch their parts through the same checked
readers. The decode device (NVDEC or CPU) is chosen here. Failures become BadInput with a reason a user
can act on (missing, empty, too big, not a video, refused), or propagate as retryable SourceError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import av
import av.error
from av.codec.hwaccel import HWAccel
from av.container import InputContainer

from shared.blobstore import readable_url
from shared.runtime.errors import BadInput, Fatal
from shared.sources.policy import SourcePolicy, SourceRefused
from shared.video.reading import LocalReader, ReadBudget
from shared.video.remote import HttpReader, SourceError, redact
from shared.video.settings import DecodeSettings

log = logging.getLogger(__name__)

# Demuxers for video files and streams that read nothing but their own bytes.
FORMATS = "mov,matroska,mpegts,mpeg,avi,flv,asf,ogg,ivf,h264,hevc,m4v,obu,mxf,nut"
PLAYLISTS = "hls,dash"
READ_BUFFER = 64 * 1024  # bytes FFmpeg asks of a reader at once

__all__ = ["SourceError", "decode_device", "hwaccel", "open_source", "source_errors"]


def open_source(uri: str, settings: DecodeSettings, budget: ReadBudget | None = None) -> InputContainer:
    """An open container for `uri`; the caller closes it (use `with`). `budget` bounds every read (default:
    MIRA_DECODE_TIMEOUT_S from now and MIRA_MAX_FILE_BYTES)."""
    policy = settings.source_policy
    policy.check(uri)
    budget = budget or ReadBudget(settings.decode_timeout_s, settings.max_file_bytes)
    reader = open_reader(uri, settings, policy, budget)
    formats = f"{FORMATS},{PLAYLISTS}" if settings.allow_playlists else FORMATS

    def nested(url: str, flags: int, options: dict[str, Any]) -> Any:
        """Playlist parts (segments, keys): allowed only with MIRA_ALLOW_PLAYLISTS, each checked like a source."""
        if not settings.allow_playlists or flags & 2:  # AVIO_FLAG_WRITE
            raise SourceRefused("a playlist or reference to other files; MIRA_ALLOW_PLAYLISTS enables HLS/DASH")
        policy.check(url)
        return open_reader(url, settings, policy, budget)

    try:
        return av.open(reader, container_options={"format_whitelist": formats}, io_open=nested,
                       buffer_size=READ_BUFFER, hwaccel=hwaccel(settings))
    except BaseException as e:
        reader.close()
        if isinstance(e, av.error.ArgumentError):  # the demuxer FFmpeg detected is not on the whitelist
            raise BadInput("not a video format framegrid reads (not on its demuxer whitelist; HLS and DASH "
                           "playlists need MIRA_ALLOW_PLAYLISTS)") from None
        if isinstance(e, (av.error.InvalidDataError, av.error.EOFError, av.error.PatchWelcomeError)):
            raise BadInput(f"not a readable video file ({e.strerror})") from None
        raise


def open_reader(uri: str, settings: DecodeSettings, policy: SourcePolicy, budget: ReadBudget) -> Any:
    """The file-like object FFmpeg reads `uri` through."""
    scheme = urlsplit(uri).scheme.lower()
    timeouts = (settings.http_connect_timeout_s, settings.http_timeout_s)
    if scheme in ("http", "https"):
        return HttpReader(uri, policy, budget, timeouts)
    if scheme == "s3":
        return HttpReader(readable_url(uri), policy, budget, timeouts, trusted=True)  # presigned: our endpoint
    if scheme not in ("", "file"):
        raise BadInput(f"unsupported source scheme {scheme!r}: use a path, file://, http(s):// or s3://")
    return LocalReader(uri, policy, budget)


@contextmanager
def source_errors(uri: str) -> Iterator[None]:
    """FFmpeg's own messages name the URL, whose query may hold credentials: retryable errors never do."""
    try:
        yield
    except av.error.FFmpegError as e:
        raise SourceError(f"reading {redact(uri)} failed: {e.strerror} ({type(e).__name__})") from None


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
    log.info("no CUDA device available: decoding on CPU (MIRA_DECODE_DEVICE=auto)")  # the usual case: no warning
    return "cpu"


def hwaccel(settings: DecodeSettings) -> HWAccel | None:
    if decode_device(settings.decode_device) == "cpu":
        return None
    # Software fallback covers streams NVDEC cannot take (e.g. 4:2:2, some profiles) instead of failing them.
    return HWAccel(device_type="cuda", allow_software_fallback=True)
