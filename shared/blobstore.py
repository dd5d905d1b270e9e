"""Content-addressed blob store (grid JPEGs and their descriptions) on a local folder or S3.

A blob's key is its sha256, so storing the same bytes twice is free and a URI names one content forever.
Aliases map a name (e.g. "the grid of this clip range with these render settings") to a blob URI, so work
already done can be found again without redoing it. S3 talks to AWS or any S3-compatible server:
MIRA_S3_ENDPOINT_URL (or AWS_ENDPOINT_URL) and the usual AWS_* credentials and region variables.

A folder store whose folder has gone (an unmounted volume) or that fails as a mount does when its server is
away (EIO, ESTALE, timeouts, a full disk) raises Unavailable: an outage the runtime waits out, not a clip's
fault. S3's failures say so themselves (shared.runtime.outage reads botocore's errors).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from shared.runtime.errors import Unavailable
from shared.runtime.outage import OBJECT_STORE

PRESIGN_EXPIRY_S = 3600
_OUTAGE_ERRNOS = {errno.EIO, errno.ESTALE, errno.ETIMEDOUT, errno.ENOTCONN, errno.EHOSTDOWN, errno.EHOSTUNREACH,
                  errno.ENETDOWN, errno.ENETUNREACH, errno.ECONNREFUSED, errno.ECONNRESET, errno.ENOSPC,
                  errno.EDQUOT}


@dataclass(frozen=True)
class BlobRef:
    uri: str
    sha256: str
    size: int


class BlobStore(Protocol):
    url: str

    async def put(
        self, data: bytes, *, suffix: str = ".jpg", content_type: str = "image/jpeg"
    ) -> BlobRef: ...
    async def get(self, uri: str) -> bytes: ...
    async def exists(self, uri: str) -> bool: ...
    async def put_alias(self, name: str, uri: str) -> None: ...
    async def get_alias(self, name: str) -> str | None: ...


def open_blobstore(url: str) -> BlobStore:
    """`file:///abs/dir`, a plain directory path, or `s3://bucket/prefix`."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return S3BlobStore(parsed.netloc, parsed.path.strip("/"))
    if parsed.scheme in ("file", ""):
        return FileBlobStore(Path(unquote(parsed.path) if parsed.scheme else url))
    raise ValueError(f"unsupported blob store URL {url!r}: use file://... or s3://bucket/prefix")


def _blob_key(sha256: str, suffix: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}{suffix}"


def _alias_key(name: str) -> str:
    return f"aliases/{hashlib.sha256(name.encode()).hexdigest()}"


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = self.root.as_uri()
        self.root.mkdir(parents=True, exist_ok=True)  # from here on, a missing root is a volume gone away

    async def put(self, data: bytes, *, suffix: str = ".jpg", content_type: str = "image/jpeg") -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        path = self.root / _blob_key(sha, suffix)
        if not await self._is_file(path):
            await self._run(_write_atomically, path, data)
        return BlobRef(path.as_uri(), sha, len(data))

    async def get(self, uri: str) -> bytes:
        return await self._run(self._path(uri).read_bytes)  # type: ignore[no-any-return]

    async def exists(self, uri: str) -> bool:
        return await self._is_file(self._path(uri))

    async def put_alias(self, name: str, uri: str) -> None:
        await self._run(_write_atomically, self.root / _alias_key(name), uri.encode())

    async def get_alias(self, name: str) -> str | None:
        path = self.root / _alias_key(name)
        return await self._run(path.read_text) if await self._is_file(path) else None

    def _path(self, uri: str) -> Path:
        path = Path(unquote(urlparse(uri).path)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{uri} is not in the blob store at {self.url}")
        return path

    async def _is_file(self, path: Path) -> bool:
        found = await self._run(path.is_file)
        if not found:
            await self._run(self._check_root)  # "not there" only counts while the store itself is
        return bool(found)

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(errno.ENOENT, "the blob store's folder is gone", str(self.root))

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            if fn is not self._check_root and not self.root.is_dir():
                self._check_root()
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:
            if exc.errno in _OUTAGE_ERRNOS or not self.root.is_dir():
                raise Unavailable(OBJECT_STORE, f"{self.url}: {exc.strerror or exc}") from exc
            raise


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers never see half a blob, even when two writers race on the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def s3_client() -> Any:
    """A boto3 S3 client for AWS or the S3-compatible server at MIRA_S3_ENDPOINT_URL."""
    endpoint = os.environ.get("MIRA_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return _s3_client(endpoint, region)


@lru_cache(maxsize=4)
def _s3_client(endpoint: str | None, region: str) -> Any:
    """Clients are thread-safe and slow to build: one per endpoint."""
    import boto3  # imported here: file-only deployments never pay for botocore's start-up
    from botocore.config import Config

    style = "path" if endpoint else "auto"  # MinIO, moto and most on-prem servers need path-style URLs
    config = Config(s3={"addressing_style": style}, retries={"mode": "standard", "max_attempts": 5})
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)


class S3BlobStore:
    """boto3 is synchronous: each call runs in a thread so the event loop keeps heartbeating."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket, self.prefix = bucket, prefix
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        self._client = client or s3_client()

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _key_of(self, uri: str) -> str:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or parsed.netloc != self.bucket:
            raise ValueError(f"{uri} is not in the blob store at {self.url}")
        return parsed.path.lstrip("/")

    async def put(self, data: bytes, *, suffix: str = ".jpg", content_type: str = "image/jpeg") -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        key = self._key(_blob_key(sha, suffix))
        uri = f"s3://{self.bucket}/{key}"
        if not await self.exists(uri):
            await asyncio.to_thread(
                self._client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        return BlobRef(uri, sha, len(data))

    async def get(self, uri: str) -> bytes:
        response = await asyncio.to_thread(self._client.get_object, Bucket=self.bucket, Key=self._key_of(uri))
        return await asyncio.to_thread(response["Body"].read)

    async def exists(self, uri: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=self._key_of(uri))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def put_alias(self, name: str, uri: str) -> None:
        key = self._key(_alias_key(name))
        await asyncio.to_thread(
            self._client.put_object, Bucket=self.bucket, Key=key, Body=uri.encode(), ContentType="text/plain"
        )

    async def get_alias(self, name: str) -> str | None:
        alias_uri = f"s3://{self.bucket}/{self._key(_alias_key(name))}"
        if not await self.exists(alias_uri):
            return None
        return (await self.get(alias_uri)).decode()


def readable_url(uri: str, client: Any = None) -> str:
    """What FFmpeg can open for a blob or source URI: a local path, or a presigned https URL for s3://."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme == "s3":
        params = {"Bucket": parsed.netloc, "Key": parsed.path.lstrip("/")}
        return (client or s3_client()).generate_presigned_url(
            "get_object", Params=params, ExpiresIn=PRESIGN_EXPIRY_S
        )
    return uri
