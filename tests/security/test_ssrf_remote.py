"""A clip URL cannot make framegrid read an internal service: loopback, private and metadata addresses are
refused unless MIRA_ALLOWED_SOURCES names the host, and a redirect or an HLS playlist is no way around that.
"An internal service" is a real HTTP server on loopback holding a real video; it must receive no request."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.runtime.errors import BadInput
from shared.sources.policy import REFUSED, SourceRefused
from tests.framegrid.support import Videos, render, shown_indices
from tests.media.httpserver import serve_directory

NOT_PUBLIC = f"{REFUSED} (not a public address; list the host to allow it)"


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Videos:
    return Videos(tmp_path_factory.mktemp("ssrf-videos"))


def refusal(url: str, **overrides: object) -> str:
    with pytest.raises(BadInput) as caught:
        render(url, **overrides)
    return caught.value.reason


def test_internal_and_metadata_addresses_are_refused_before_any_request(videos: Videos) -> None:
    video = videos.get("secret.mp4", seconds=2, fps=12)
    with serve_directory(video.parent) as (base, internal):
        port = base.rsplit(":", 1)[1]
        for url in (f"{base}/secret.mp4", f"http://localhost:{port}/secret.mp4",
                    f"http://[::ffff:127.0.0.1]:{port}/secret.mp4", "http://169.254.169.254/latest/meta-data/"):
            assert refusal(url) == NOT_PUBLIC, url  # no policy set: public addresses only
            assert refusal(url, allowed_sources="http://*:*,https://*") == NOT_PUBLIC, url  # wildcards too
        assert refusal(f"{base}/secret.mp4", allowed_sources="https://*.example.com") == REFUSED
        assert internal.requests == []
        grid = render(f"{base}/secret.mp4", allowed_sources=f"http://127.0.0.1:{port}")  # named: allowed
    assert len(shown_indices(grid)) == 8 and internal.requests


def test_redirect_to_an_internal_address_is_refused(videos: Videos, tmp_path: Path) -> None:
    video = videos.get("secret.mp4", seconds=2, fps=12)
    (tmp_path / "public.mp4").write_bytes(video.read_bytes())
    with serve_directory(video.parent) as (inside, internal), serve_directory(tmp_path) as (front, served):
        served.redirects = {"/clip.mp4": f"{inside}/secret.mp4", "/moved.mp4": f"{front}/public.mp4"}
        assert refusal(f"{front}/clip.mp4", allowed_sources=front) == REFUSED  # not a listed URL
        # A wildcard pattern would match it, but never opens a non-public address.
        assert refusal(f"{front}/clip.mp4", allowed_sources=f"http://*:*,{front}") == NOT_PUBLIC
        assert internal.requests == []
        grid = render(f"{front}/moved.mp4", allowed_sources=front)  # a redirect within the policy is followed
    assert len(shown_indices(grid)) == 8
    assert [r.split()[1] for r in served.requests].count("/public.mp4") >= 1


def test_hls_playlist_pointing_inside_is_refused(videos: Videos, tmp_path: Path) -> None:
    video = videos.get("secret.mp4", seconds=2, fps=12)
    with serve_directory(video.parent) as (inside, internal), serve_directory(tmp_path) as (front, _):
        (tmp_path / "list.m3u8").write_text(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
            f'#EXT-X-KEY:METHOD=AES-128,URI="{inside}/key.bin"\n'
            f"#EXTINF:2.0,\n{inside}/secret.mp4\n#EXT-X-ENDLIST\n"
        )
        reason = refusal(f"{front}/list.m3u8", allowed_sources=front)
        assert reason.startswith("not a video format framegrid reads") and "MIRA_ALLOW_PLAYLISTS" in reason
        with pytest.raises(SourceRefused):  # opted in: each part of the playlist is checked like a source
            render(f"{front}/list.m3u8", allowed_sources=front, allow_playlists=True)
        assert internal.requests == []
