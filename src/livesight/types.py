"""The values that flow between LiveSight's stages.

source → :class:`EncodedPacket` / :class:`Frame` → pipeline → :class:`Sample` → judge → :class:`Verdict`
→ rules → :class:`Event`. All are frozen: a stage never changes what an earlier stage produced.
"""

from __future__ import annotations

import enum
import secrets
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import av

Severity = Literal["low", "medium", "high"]
InputMode = Literal["frames", "clip", "hybrid"]


def new_id(prefix: str) -> str:
    """LiveSight's one id generator: a short random id such as ``ses_3f2a…`` (24 hex digits, so collisions are
    not a practical concern). Job ids alone are UUIDs, as the hosted live-monitor API documents them."""
    return f"{prefix}_{secrets.token_hex(12)}"


class JobStatus(enum.StrEnum):
    """Lifecycle of a live-monitor / live-digest job (SPEC §3)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"


class SessionStatus(enum.StrEnum):
    """Lifecycle of a livestream session (SPEC §2)."""

    INITIALIZING = "INITIALIZING"
    ACTIVE = "ACTIVE"
    ENDING = "ENDING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class StreamInfo:
    """What a source delivers; ``epoch`` changes at every reconnect or discontinuity."""

    codec: str
    width: int
    height: int
    fps: float | None
    time_base: Fraction
    extradata: bytes | None = None
    epoch: int = 0


@dataclass(frozen=True)
class EncodedPacket:
    """One compressed video packet, kept for recording (remux without re-encoding)."""

    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    is_keyframe: bool
    session_time: float
    info: StreamInfo


@dataclass(frozen=True)
class Frame:
    """One decoded picture with its place on both clocks.

    ``session_time`` is seconds since the session's first frame, continuous across reconnects and
    discontinuities; ``pts_time`` is the same moment on the source's own PTS clock.
    """

    image: av.VideoFrame
    session_time: float
    pts_time: float
    epoch: int = 0
    decoded_at: float = 0.0  # time.monotonic() when decoded, to measure lag behind the live edge
    # One decoded picture is shared by every run watching the source, and FFmpeg's scaler must not be
    # entered by two threads for the same frame (it deadlocks in its slice threads): hold this lock.
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)


@dataclass(frozen=True)
class Gap:
    """A stretch where the source delivered nothing (reconnect, skipped segments)."""

    session_time: float
    wall_seconds: float
    reason: str


@dataclass(frozen=True)
class JudgeImage:
    """A JPEG handed to a judge, with the session time of the frame it came from."""

    jpeg: bytes
    session_time: float
    width: int
    height: int


@dataclass(frozen=True)
class JudgeVideo:
    """A short encoded clip (H.264 in MP4) handed to judges that take video input."""

    data: bytes
    start_time: float
    end_time: float
    width: int
    height: int
    frame_count: int
    mime_type: str = "video/mp4"


@dataclass(frozen=True)
class Sample:
    """What one check looks at: frames (or a clip) ending at ``session_time``.

    ``images`` is empty for a check point the change gate answered with a reused verdict. ``video`` is
    set in clip and hybrid modes when the run's judge takes video input; ``mode`` is the input mode
    (hybrid: the last image is the newest frame at full resolution).
    """

    session_time: float
    pts_time: float
    images: tuple[JudgeImage, ...]
    sequence: int = 0
    decoded_at: float = 0.0
    video: JudgeVideo | None = None
    mode: InputMode = "frames"


@dataclass(frozen=True)
class DetectedEvent:
    """An event a judge reported inside a chunk; times are seconds from the chunk's start."""

    label: str
    description: str
    start: float
    end: float
    severity: Severity = "medium"
    confidence: float = 0.5
    type: str = "detection"


@dataclass(frozen=True)
class Usage:
    """What answering cost: remote model calls (HTTP), images and tokens sent, local model runs, time.

    ``local_calls`` counts inferences of a model running in this process (local CLIP): they cost CPU,
    not money, and do not count against a model-call budget.
    """

    model_calls: int = 0
    images_sent: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_seconds: float = 0.0
    local_calls: int = 0
    videos_sent: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.model_calls + other.model_calls,
            self.images_sent + other.images_sent,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.latency_seconds + other.latency_seconds,
            self.local_calls + other.local_calls,
            self.videos_sent + other.videos_sent,
        )


@dataclass(frozen=True)
class Verdict:
    """A judge's answer to a yes/no condition.

    ``score`` is the judge's probability that the condition holds, when it has one (local CLIP).
    ``judge`` names the backend that answered. A cascade keeps every stage's verdict in ``stages``,
    cheapest first. ``reused`` marks a verdict the change gate carried over from an earlier, judged
    frame because the picture had not changed (its ``usage`` is then empty: nothing was spent).
    """

    match: bool
    confidence: float
    explanation: str
    usage: Usage = field(default_factory=Usage)
    score: float | None = None
    judge: str = ""
    stages: tuple[Verdict, ...] = ()
    reused: bool = False

    def summary(self) -> dict[str, object]:
        """The verdict as stored with an event (no usage), its stages included."""
        out: dict[str, object] = {
            "judge": self.judge,
            "match": self.match,
            "confidence": self.confidence,
            "explanation": self.explanation,
        }
        if self.score is not None:
            out["score"] = self.score
        return out


@dataclass(frozen=True)
class RuleVerdicts:
    """One judge call's answers to several rules at one check point: a :class:`Verdict` per rule name (each
    without usage), and what the call cost in all."""

    verdicts: dict[str, Verdict]
    usage: Usage = field(default_factory=Usage)
    judge: str = ""


@dataclass(frozen=True)
class Review:
    """A judge's answer to an open-ended rapid-review query over one chunk."""

    events: tuple[DetectedEvent, ...]
    summary: str = ""
    usage: Usage = field(default_factory=Usage)


class ChunkStatus(enum.StrEnum):
    RECORDING = "recording"
    RECORDED = "recorded"
    ANALYSED = "analysed"
    FAILED = "failed"


@dataclass(frozen=True)
class Chunk:
    """A consecutive piece of the session timeline, recorded to ``path``."""

    chunk_id: str
    index: int
    start_time: float
    end_time: float
    path: str | None
    status: ChunkStatus = ChunkStatus.RECORDED
    discontinuity: bool = False

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


@dataclass(frozen=True)
class Event:
    """A detection with every timing field of SPEC §2, consistent by construction."""

    event_id: str
    type: str
    label: str
    description: str
    severity: Severity
    confidence: float
    stream_time: float
    capture_time: float
    chunk_index: int
    chunk_relative_time: float
    hls_cumulative_offset: float
    t_start: str
    t_end: str
    created_at: str
    analysis_id: str
    chunk_id: str
    end_time: float | None = None
