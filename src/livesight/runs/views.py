"""How stored events look to clients: the job trigger and session event views, their SSE messages, and the
signed links (frames, clips) in them — one place for the API's readers and the workers' announcements.

A view is built from settings (``public_url``, link lifetimes) and the store's record alone, so the API process
that answers a GET and the worker (perhaps on a Ray node) that announces the event produce the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from livesight.delivery.broker import Message
from livesight.settings import Settings
from livesight.signing import URLSigner
from livesight.store.records import ChunkRecord, EventRecord, OwnerKind

# SSE event names (SPEC §3) for the stored job event types, and the webhook types for them.
SSE_NAMES = {
    "job_started": "started",
    "condition": "triggered",
    "rule_started": "triggered",  # an appearance of a rule starting is the hosted API's trigger
    "rule_ongoing": "rule_ongoing",
    "rule_ended": "rule_ended",
    "job_stopped": "stopped",
    "error": "error",
    "summary": "summary",
}
WEBHOOK_TYPES = {
    "job_started": "job_started",
    "condition": "watch_triggered",
    "rule_started": "watch_triggered",
    "rule_ongoing": "rule_ongoing",
    "rule_ended": "rule_ended",
    "job_stopped": "job_stopped",
    "error": "error",
    "summary": "summary_generated",
}
TERMINAL_TYPES = {"job_stopped", "error"}
"""Job event types that end a job's SSE stream."""
TRIGGER_TYPES = {"condition", "rule_started"}
"""Job event types that are triggers (``GET /api/jobs/{id}`` → ``triggers``, ``watch_triggered``)."""
RULE_TYPES = {"rule_started", "rule_ongoing", "rule_ended"}
_RULE_FIELDS = ("rule", "transition", "start", "end", "duration", "peak_confidence", "announced_at")


def public_url(settings: Settings) -> str:
    """The base URL put in links: ``LIVESIGHT_PUBLIC_URL``, else the server's own address."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.port}"


class Views:
    """Signed links and client-facing views of stored events."""

    def __init__(self, settings: Settings, signer: URLSigner) -> None:
        self.settings = settings
        self.signer = signer

    def signed(self, path: str, ttl: float | None = None) -> tuple[str, int]:
        """An absolute signed link to ``path`` and when it expires (epoch seconds)."""
        signed_path, expires = self.signer.sign(path, ttl or self.settings.signed_url_ttl_seconds)
        return public_url(self.settings) + signed_path, expires

    # -- jobs ------------------------------------------------------------------------------------
    def frame_url(self, job_id: str, event_id: str) -> str:
        return self.signed(f"/api/jobs/{job_id}/events/{event_id}/frame.jpg")[0]

    def clip_url(self, job_id: str, chunk_index: int) -> str:
        return self.signed(f"/api/jobs/{job_id}/chunks/{chunk_index}.ts")[0]

    def trigger_view(self, record: EventRecord) -> dict[str, Any]:
        """A trigger as ``GET /api/jobs/{id}`` and the ``triggered`` event show it."""
        assert record.job_id is not None
        view = asdict(record.to_event())
        view.update(
            condition=record.data.get("condition"),
            triggered=True,
            explanation=record.data.get("explanation", record.description),
            frame_url=self.frame_url(record.job_id, record.id) if record.data.get("frame_path") else None,
            clip_url=self.clip_url(record.job_id, record.chunk_index),
            seq=record.seq,
            # Which judge(s) said yes (a cascade: both stages), and whether the gate reused the verdict.
            stages=record.data.get("stages"),
            reused=record.data.get("reused", False),
        )
        if record.type in RULE_TYPES:  # an appearance of a named rule: when it started, ended, how long
            view.update({k: record.data.get(k) for k in _RULE_FIELDS})
            view["triggered"] = record.type == "rule_started"
        return view

    def job_message(self, record: EventRecord) -> Message:
        """The SSE message of a stored job event; every one names its job (``job_id``)."""
        name = SSE_NAMES.get(record.type, record.type)
        data = dict(record.data.get("payload") or {})
        if (record.type == "condition" or record.type in RULE_TYPES) and record.job_id:
            data = {**data, **self.trigger_view(record)}
        data = {"job_id": record.job_id, **data}
        return Message(name, data, record.seq, terminal=record.type in TERMINAL_TYPES)

    # -- sessions --------------------------------------------------------------------------------
    def event_view(self, record: EventRecord) -> dict[str, Any]:
        """A session event as the session payload shows it: every field of SPEC §2, plus evidence links."""
        view = asdict(record.to_event())
        view["seq"] = record.seq
        sid = record.session_id
        if record.data.get("frame_path"):
            view["thumbnail_url"] = self.signed(f"/api/live/session/{sid}/events/{record.id}/thumbnail.jpg")[0]
        view["clip_url"] = self.signed(f"/api/live/session/{sid}/chunks/{record.chunk_index}.ts")[0]
        return view

    def session_message(self, record: EventRecord) -> Message:
        return Message("event", self.event_view(record), record.seq)

    # -- recordings ------------------------------------------------------------------------------
    def playlist(
        self,
        kind: OwnerKind,
        run_id: str,
        chunks: Sequence[ChunkRecord],
        *,
        ended: bool,
        expires: int,
        origin: datetime | None = None,
    ) -> str:
        """The HLS playlist of a run's recorded ``chunks``: ``EVENT`` (growing) while it runs, ``VOD`` with
        ``#EXT-X-ENDLIST`` once it ended. Each segment link is signed to expire with the playlist; with
        ``origin`` (when the run started) every segment carries its wall-clock ``PROGRAM-DATE-TIME``."""
        base = f"/api/live/session/{run_id}" if kind == "session" else f"/api/jobs/{run_id}"
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{max([math.ceil(c.end_time - c.start_time) for c in chunks] or [1])}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        for chunk in chunks:
            if chunk.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if origin is not None:
                when = (origin + timedelta(seconds=chunk.start_time)).isoformat(timespec="milliseconds")
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{when.replace('+00:00', 'Z')}")
            lines.append(f"#EXTINF:{chunk.end_time - chunk.start_time:.3f},")
            path = f"{base}/chunks/{chunk.chunk_index}.ts"
            lines.append(f"{path}?expires={expires}&sig={self.signer.signature(path, expires)}")
        if ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"
