"""Maps a source's PTS clock onto one continuous timeline.

The source timeline starts at 0 with the first keyframe and never jumps: at a reconnect, an HLS
discontinuity or a PTS jump (wrap, skipped segments), it is re-anchored at the next keyframe so the
new picture follows the last one by one frame duration. Wall-clock time lost is reported separately
as a gap, so the timeline always matches the recording, whose playback position is the sum of its
segment durations.
"""

from __future__ import annotations

from dataclasses import dataclass

# A forward PTS jump larger than this (seconds) inside one epoch is treated as a discontinuity.
MAX_FORWARD_JUMP = 10.0
# A backward jump larger than this is a discontinuity (B-frame reordering stays well under it).
MAX_BACKWARD_JUMP = 1.0


@dataclass(frozen=True)
class Anchor:
    epoch: int
    pts_base: float
    time_base: float

    def map(self, pts_time: float) -> float:
        return self.time_base + (pts_time - self.pts_base)


class Timeline:
    """Owned by one source's decode thread; not thread-safe."""

    def __init__(self, default_frame_duration: float = 0.04) -> None:
        self.anchor: Anchor | None = None
        self._max_pts: float | None = None
        self._last_time = 0.0
        self._last_packet_time = 0.0
        self._frame_duration = default_frame_duration
        self.discontinuities = 0

    @property
    def last_time(self) -> float:
        """Latest session time handed out (the end of the timeline so far)."""
        return self._last_time

    @property
    def frame_duration(self) -> float:
        return self._frame_duration

    def set_frame_duration(self, seconds: float) -> None:
        if 0 < seconds < 2:
            self._frame_duration = seconds

    def needs_anchor(self, pts_time: float, epoch: int) -> bool:
        """Whether a keyframe at ``pts_time`` in ``epoch`` starts a new stretch of the timeline."""
        anchor = self.anchor
        if anchor is None or epoch != anchor.epoch or self._max_pts is None:
            return True
        delta = pts_time - self._max_pts
        return delta > MAX_FORWARD_JUMP or delta < -MAX_BACKWARD_JUMP

    def reanchor(self, pts_time: float, epoch: int) -> Anchor:
        """Start a new stretch at a keyframe; the first stretch starts at 0."""
        if self.anchor is None:
            start = 0.0
        else:
            self.discontinuities += 1
            start = self._last_time + self._frame_duration
        self.anchor = Anchor(epoch, pts_time, start)
        self._max_pts = pts_time
        self._last_time = max(self._last_time, start)
        return self.anchor

    def rebase(self, pts_time: float) -> None:
        """Move the current anchor so that ``pts_time`` lands one frame after the latest time handed out.

        For a stretch anchored on a guessed PTS: the first real PTS tells where the source's clock is.
        """
        assert self.anchor is not None
        latest = max(self._last_packet_time, self._last_time)
        self.anchor = Anchor(self.anchor.epoch, pts_time, latest + self._frame_duration)
        self._max_pts = pts_time

    def packet_time(self, pts_time: float) -> float:
        assert self.anchor is not None
        if self._max_pts is None or pts_time > self._max_pts:
            self._max_pts = pts_time
        t = self.anchor.map(pts_time)
        self._last_packet_time = max(self._last_packet_time, t)
        return t

    def frame_time(self, pts_time: float) -> float:
        assert self.anchor is not None
        t = self.anchor.map(pts_time)
        self._last_time = max(self._last_time, t)
        return t
