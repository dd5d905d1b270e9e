"""Watched folder: new video files, once their size has stopped changing, become submissions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from services.ingest.sources import VIDEO_SUFFIXES, new_request_id
from shared.messages import ClipSubmission

log = logging.getLogger(__name__)


async def watch_folder(folder: Path, interval_s: float, submit: Callable[[ClipSubmission], Awaitable[None]]) -> None:
    seen: set[Path] = set()
    sizes: dict[Path, int] = {}
    log.info("watching %s for new videos", folder)
    while True:
        for path in sorted(folder.rglob("*")):
            if path in seen or not path.is_file() or path.suffix.lower() not in VIDEO_SUFFIXES:
                continue
            size = path.stat().st_size
            if sizes.get(path) == size:  # unchanged over one interval: the copy is complete
                seen.add(path)
                await submit(ClipSubmission(source=str(path), request_id=new_request_id()))
            else:
                sizes[path] = size
        await asyncio.sleep(interval_s)
