"""Media made to hurt a decoder, encoded with PyAV like every other test video: a stream whose picture size
jumps mid-way, and an MPEG-TS that never ends (a few video frames, then audio forever) served over HTTP with
no Content-Length, as an attacker's server would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler
from io import BufferedIOBase
from pathlib import Path

import av
import numpy as np

from tests.media.httpserver import _Server

TS_CLOCK = Fraction(1, 90000)


def _h264_packets(width: int, height: int, frames: int, fps: int = 12) -> list[av.Packet]:
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"  # type: ignore[attr-defined]
    codec.time_base, codec.framerate = Fraction(1, fps), Fraction(fps)  # type: ignore[attr-defined]
    codec.options = {"preset": "ultrafast", "tune": "zerolatency"}
    packets: list[av.Packet] = []
    for i in range(frames):
        picture = np.full((height, width, 3), 60 + 10 * i, np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += codec.encode(frame)  # type: ignore[attr-defined]
    packets += codec.encode(None)  # type: ignore[attr-defined]
    return packets


def make_size_switch(path: str | Path, big: tuple[int, int] = (6400, 6400), fps: int = 12) -> Path:
    """An H.264 MPEG-TS that declares (and starts at) 160x96 for one second, then switches to `big`."""
    packets = _h264_packets(160, 96, fps, fps) + _h264_packets(*big, 1, fps)
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("h264", rate=fps)
        stream.width, stream.height = 160, 96
        for i, packet in enumerate(packets):
            packet.stream = stream
            packet.time_base = TS_CLOCK
            packet.pts = packet.dts = round(i / fps / TS_CLOCK)
            out.mux(packet)
    return Path(path)


def write_endless_ts(sink: BufferedIOBase, stop: threading.Event, audio_rate: int = 8000) -> None:
    """Three 160x96 video frames (enough for FFmpeg's probe to learn the picture size), then AAC audio until
    `stop` is set or the reader goes away: a reader waiting for the next video frame waits forever."""
    with av.open(sink, "w", format="mpegts") as out:
        video = out.add_stream("h264", rate=12)
        video.width, video.height = 160, 96
        audio = out.add_stream("aac", rate=audio_rate)
        audio.layout = "mono"
        for packet in _h264_packets(160, 96, 3):
            packet.stream = video
            out.mux(packet)
        samples = np.zeros((1, 1024), np.float32)
        pts = 0
        while not stop.is_set():
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = audio_rate, pts
            pts += 1024
            for packet in audio.encode(frame):
                out.mux(packet)
            stop.wait(0.002)  # a steady trickle: the deadline ends it, not the byte budget


@dataclass
class Endless:
    url: str
    requests: int = 0
    hung_up: threading.Event = field(default_factory=threading.Event)  # a reader went away mid-stream


@contextmanager
def serve_endless_ts() -> Iterator[Endless]:
    """An HTTP server on loopback answering every GET with an endless MPEG-TS and no Content-Length."""
    stop = threading.Event()
    endless = Endless(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection does: no length is sent

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            endless.requests += 1
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            try:
                write_endless_ts(self.wfile, stop)
            except (BrokenPipeError, ConnectionResetError, OSError, av.error.FFmpegError):
                endless.hung_up.set()

    server = _Server(("127.0.0.1", 0), Handler)
    endless.url = f"http://127.0.0.1:{server.server_address[1]}/live.ts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endless
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
