"""Who can reach what: loopback by default, tokens beyond it (a login form, a cookie that is not the token),
CSRF on the send-back forms, and a grid route that serves only blobs of the blob store that records name."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from review.app import make_app
from review.settings import ReviewSettings
from shared.blobstore import S3BlobStore, open_blobstore
from shared.settings import Settings
from shared.store import RecordStore
from tests.framegrid.conftest import s3, s3_server  # noqa: F401 (fixtures: a moto S3 server)
from tests.review.conftest import review_env
from tests.review.seeding import Seeded
from tests.store.factories import result

TOKEN = "review-token-0123456789"


@pytest.fixture
async def open_client(seeded: Seeded) -> AsyncIterator[Callable[..., object]]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def opened(host: str = "127.0.0.1", tokens: tuple[str, ...] = (), database_url: str = seeded.database_url,
                     blob_url: str = seeded.blob_url) -> TestClient[web.Request, web.Application]:
        settings = Settings(database_url=database_url, blob_url=blob_url)
        app = make_app(settings, ReviewSettings(), host, tokens)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield opened
    for client in clients:
        await client.close()


def test_beyond_loopback_without_tokens_it_refuses_to_start(seeded: Seeded, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cli.main", "review", "--host", "0.0.0.0", "--port", "0"],
                          env=review_env(tmp_path / "home", seeded), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "MIRA_API_TOKENS" in done.stderr, done.stderr


async def test_beyond_loopback_the_page_asks_for_a_token(open_client: Callable[..., object]) -> None:
    client = await open_client(host="0.0.0.0", tokens=("other-token", TOKEN))  # type: ignore[misc]
    reply = await client.get("/?status=failed", allow_redirects=False)
    assert reply.status == 302 and URL(reply.headers["Location"]).path == "/login"
    assert URL(reply.headers["Location"]).query["next"] == "/?status=failed"
    assert (await client.get("/grids/" + "a" * 64 + ".jpg")).status == 401
    assert (await client.post("/send-back", data={"scope": "filter"})).status == 401

    wrong = await client.post("/login", data={"token": "guess", "next": "/"}, allow_redirects=False)
    assert wrong.status == 401 and "not one of MIRA_API_TOKENS" in await wrong.text()
    right = await client.post("/login", data={"token": TOKEN, "next": "/?status=failed"}, allow_redirects=False)
    assert right.status == 303 and right.headers["Location"] == "/?status=failed"
    assert TOKEN not in right.headers["Set-Cookie"]
    gallery = await client.get("/?status=failed")
    assert gallery.status == 200 and 'data-status="failed"' in await gallery.text()

    elsewhere = await client.post("/login", data={"token": TOKEN, "next": "//evil.example/"}, allow_redirects=False)
    assert elsewhere.headers["Location"] == "/"  # no open redirect


async def test_on_loopback_no_login_but_send_back_needs_the_csrf_token(open_client: Callable[..., object]) -> None:
    client = await open_client()  # type: ignore[misc]
    gallery = await client.get("/")
    assert gallery.status == 200
    found = re.search(r'name="csrf" value="([^"]+)"', await gallery.text())
    assert found is not None
    form = {"scope": "filter", "status": "failed"}
    forged = await client.post("/send-back", data={**form, "csrf": "0" * 64})
    assert forged.status == 403
    assert (await client.post("/send-back", data=form)).status == 403
    preview = await client.post("/send-back", data={**form, "csrf": found.group(1)})
    assert preview.status == 200 and 'id="estimate"' in await preview.text()


async def test_grids_come_only_from_the_blob_store(open_client: Callable[..., object], tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'outside.db'}"
    outside = "cd" * 32
    with RecordStore.open(database_url) as store:  # a record whose grid URI points outside the blob store
        store.record(result("clip-x", "job-x", grid_sha256=outside).model_copy(
            update={"grid": result("clip-x", "job-x").grid.model_copy(update={"uri": "file:///etc/hostname",
                                                                               "sha256": outside})}))
    client = await open_client(database_url=database_url)  # type: ignore[misc]
    assert (await client.get(f"/grids/{outside}.jpg")).status == 404
    assert (await client.get("/grids/" + "0" * 64 + ".jpg")).status == 404  # no record names it
    assert (await client.get("/grids/..%2F..%2Fetc%2Fhostname.jpg")).status == 404
    assert (await client.get("/grids/../../etc/hostname")).status == 404


async def test_grids_are_read_from_an_s3_blob_store(open_client: Callable[..., object], seeded: Seeded,
                                                    s3: Any, tmp_path: Path) -> None:  # noqa: F811
    with RecordStore.open(seeded.database_url) as store:
        seeded_grid = store.latest("clip-0000")
    assert seeded_grid is not None
    jpeg = await open_blobstore(seeded.blob_url).get(seeded_grid.grid_uri)
    ref = await S3BlobStore("grids", "review", client=s3).put(jpeg)
    elsewhere = "ef" * 32  # a record naming an object of another bucket: not the blob store's to serve
    database_url = f"sqlite:///{tmp_path / 's3.db'}"
    with RecordStore.open(database_url) as store:
        for sha, uri in ((ref.sha256, ref.uri), (elsewhere, "s3://videos/secret.jpg")):
            base = result(f"clip-{sha[:4]}", f"job-{sha[:4]}")
            store.record(base.model_copy(update={"grid": base.grid.model_copy(update={"uri": uri, "sha256": sha})}))
    client = await open_client(database_url=database_url, blob_url="s3://grids/review")  # type: ignore[misc]
    reply = await client.get(f"/grids/{ref.sha256}.jpg")
    assert reply.status == 200 and await reply.read() == jpeg and reply.content_type == "image/jpeg"
    assert (await client.get(f"/grids/{elsewhere}.jpg")).status == 404


async def test_captions_are_shown_as_text_not_markup(open_client: Callable[..., object], seeded: Seeded,
                                                     tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'markup.db'}"
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with RecordStore.open(database_url) as store:
        base = result("clip-m", "job-m")
        assert base.captions is not None
        store.record(base.model_copy(update={"captions": base.captions.model_copy(update={"dense_caption": hostile})}))
    client = await open_client(database_url=database_url)  # type: ignore[misc]
    for path in ("/", "/clips/clip-m"):
        page = await (await client.get(path)).text()
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
