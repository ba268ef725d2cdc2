"""Serving stored recordings and frames: a local file with ranges, an object streamed through.

Objects in an S3 store are streamed through the API rather than redirected to presigned URLs, so a link
stays one signed same-origin URL (hls.js fetches segments from the playlist's origin) whichever store
holds the bytes, and the store needs no public endpoint.
"""

from __future__ import annotations

import asyncio

from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from livesight.storage import Storage


async def stored_response(storage: Storage, ref: str | None, *, media_type: str) -> Response | None:
    """The response serving ``ref``, or None when nothing is stored there."""
    if not ref:
        return None
    opened = await asyncio.to_thread(storage.open, ref)
    if opened is None:
        return None
    if opened.path is not None:
        return FileResponse(opened.path, media_type=media_type)
    assert opened.chunks is not None
    return StreamingResponse(
        opened.chunks,  # a blocking iterator: Starlette reads it in a thread
        media_type=media_type,
        headers={"Content-Length": str(opened.size)},
        background=BackgroundTask(opened.close),
    )


async def stored_present(storage: Storage, refs: list[str]) -> list[bool]:
    """Which references still exist (retention may have removed some)."""
    return await asyncio.to_thread(storage.present, refs)
