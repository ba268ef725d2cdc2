"""The change gate (``enable_prefilter``): skip the model while the picture has not changed.

At each check point the gate compares a tiny, blurred thumbnail of the frame with the thumbnail of the
last frame a judge actually looked at. When too few pixels changed, the run reuses that judge's verdict
instead of asking again; after ``max_staleness_seconds`` without a judged frame it asks anyway.

Why thumbnail + blur + two thresholds: comparing raw frames, every camera "changes" all the time
(sensor and compression noise, a ticking timestamp overlay, leaves). Shrinking the frame to
``width`` pixels averages the noise away; the box blur then acts as a size filter — a thin overlay or a
small mover keeps only a fraction of its contrast after blurring, while anything a few blur radii wide
keeps all of it — so the per-pixel threshold ignores small things and the changed-area threshold ignores
scattered flicker. Differences are the largest over the R, G and B channels, so a change of colour at
equal brightness (a red object on grey) counts as fully as a change of brightness.

``sensitivity`` (0–1, default 0.5) moves both thresholds: at 0.5 a pixel counts when some channel moved
by more than 56 of 255 after blurring, and the frame counts as changed when over 2 % of its area did.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import av

    from livesight.settings import Settings
    from livesight.types import Frame

__all__ = [
    "ChangeGate",
    "GateConfig",
    "GateDecision",
    "GateReason",
    "GateStats",
    "Thumbnail",
    "frame_thumbnail",
    "thumbnail",
]

Thumbnail = npt.NDArray[np.float32]

_BLUR_RADIUS = 2  # 5×5 box on a 64-pixel-wide thumbnail: about 8 % of the frame's width


@dataclass(frozen=True)
class GateConfig:
    """How sensitive the gate is and how stale a reused verdict may get."""

    sensitivity: float = 0.5
    max_staleness_seconds: float = 120.0
    width: int = 64

    def __post_init__(self) -> None:
        if not 0.0 <= self.sensitivity <= 1.0:
            raise ValueError("prefilter sensitivity must be between 0 and 1")
        if self.max_staleness_seconds <= 0:
            raise ValueError("max staleness must be positive")
        if self.width < 8:
            raise ValueError("the gate's thumbnail needs at least 8 pixels of width")

    @classmethod
    def from_settings(cls, settings: Settings) -> GateConfig:
        """The gate's tuning from the process settings (``LIVESIGHT_PREFILTER_*``)."""
        return cls(
            sensitivity=settings.prefilter_sensitivity,
            max_staleness_seconds=settings.prefilter_max_staleness_seconds,
        )

    @property
    def pixel_threshold(self) -> float:
        """A thumbnail pixel changed when one channel moved by more than this (0–255), after blurring."""
        return 16.0 + 80.0 * (1.0 - self.sensitivity)

    @property
    def area_threshold(self) -> float:
        """The picture changed when more than this fraction of its thumbnail pixels did."""
        return 0.002 + 0.036 * (1.0 - self.sensitivity)


class GateReason(enum.StrEnum):
    """Why the gate let a check through to the judge, or did not."""

    FIRST = "first"  # nothing judged yet (or since a reconnect / failed check)
    CHANGED = "changed"
    STALE = "stale"  # unchanged, but the reused verdict reached the maximum staleness
    UNCHANGED = "unchanged"  # skipped: the last verdict is reused


@dataclass(frozen=True)
class GateDecision:
    judge: bool
    reason: GateReason
    changed_fraction: float | None = None


@dataclass
class GateStats:
    """The gate's decisions so far, for job stats and metrics."""

    decisions: dict[GateReason, int] = field(default_factory=lambda: dict.fromkeys(GateReason, 0))
    last_changed_fraction: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            **{reason.value: count for reason, count in self.decisions.items()},
            "last_changed_fraction": None
            if self.last_changed_fraction is None
            else round(self.last_changed_fraction, 4),
        }


def _box_blur(image: Thumbnail, radius: int) -> Thumbnail:
    """Separable box blur with edge padding, via cumulative sums (no SciPy)."""
    size = 2 * radius + 1
    out: Thumbnail = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    for axis in (0, 1):
        summed = np.cumsum(out, axis=axis, dtype=np.float32)
        zero = np.zeros_like(np.take(summed, [0], axis=axis))
        summed = np.concatenate([zero, summed], axis=axis)
        upper = np.take(summed, np.arange(size, summed.shape[axis]), axis=axis)
        lower = np.take(summed, np.arange(0, summed.shape[axis] - size), axis=axis)
        out = ((upper - lower) / size).astype(np.float32)
    return out


def thumbnail_of_array(rgb: npt.NDArray[Any]) -> Thumbnail:
    """Blur an already-downscaled H×W×3 RGB array into a gate thumbnail."""
    return _box_blur(np.asarray(rgb, dtype=np.float32), _BLUR_RADIUS)


def thumbnail(image: av.VideoFrame, width: int = 64) -> Thumbnail:
    """The gate's view of a decoded frame: ``width`` pixels wide (area-averaged), RGB, blurred.

    Cheap (swscale does the shrinking) but blocking: call it from a thread for large frames.
    """
    height = max(2, round(width * image.height / max(1, image.width)))
    rgb = image.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
    return thumbnail_of_array(rgb)


def frame_thumbnail(frame: Frame, width: int = 64) -> Thumbnail:
    """:func:`thumbnail` of a decoded frame that other runs may be scaling too (under the frame's lock)."""
    with frame.lock:
        return thumbnail(frame.image, width)


def changed_fraction(a: Thumbnail, b: Thumbnail, pixel_threshold: float) -> float:
    """Fraction of thumbnail pixels where some channel differs by more than ``pixel_threshold``."""
    if a.shape != b.shape:
        return 1.0  # a new resolution (a reconnect, a new variant): everything changed
    return float(np.mean(np.abs(a - b).max(axis=2) > pixel_threshold))


class ChangeGate:
    """Decides, check point by check point, whether the judge must look again.

    The reference is the thumbnail of the last frame handed to the judge (:meth:`judged`), not the
    previous check point's frame, so a slow drift adds up until it counts as a change.
    """

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self.stats = GateStats()
        self._reference: Thumbnail | None = None
        self._reference_time = 0.0
        self._reference_epoch = 0

    @property
    def has_reference(self) -> bool:
        return self._reference is not None

    def decide(self, thumb: Thumbnail, session_time: float, epoch: int = 0) -> GateDecision:
        """Whether the frame behind ``thumb`` must be judged; counts the decision in :attr:`stats`."""
        decision = self._decide(thumb, session_time, epoch)
        self.stats.decisions[decision.reason] += 1
        if decision.changed_fraction is not None:
            self.stats.last_changed_fraction = decision.changed_fraction
        return decision

    def _decide(self, thumb: Thumbnail, session_time: float, epoch: int) -> GateDecision:
        if self._reference is None or epoch != self._reference_epoch:
            return GateDecision(True, GateReason.FIRST)
        fraction = changed_fraction(self._reference, thumb, self.config.pixel_threshold)
        if fraction > self.config.area_threshold:
            return GateDecision(True, GateReason.CHANGED, fraction)
        if session_time - self._reference_time >= self.config.max_staleness_seconds - 1e-6:
            return GateDecision(True, GateReason.STALE, fraction)
        return GateDecision(False, GateReason.UNCHANGED, fraction)

    def judged(self, thumb: Thumbnail, session_time: float, epoch: int = 0) -> None:
        """The frame behind ``thumb`` went to the judge: later frames are compared with it."""
        self._reference = thumb
        self._reference_time = session_time
        self._reference_epoch = epoch

    def forget(self) -> None:
        """Drop the reference (its check failed): the next check point is judged."""
        self._reference = None
