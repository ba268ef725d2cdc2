"""The test VLM's eyes: decode data-URL images and measure how much of a named colour they show.

Deliberately simple and robust rather than clever: a pixel "is" a colour when its hue falls in that colour's
band and it is saturated and bright enough. JPEG artefacts and downscaling blur the edges of a coloured
region but leave its inside saturated, while the neutral greys of :mod:`livesight.testing.scene` carry no
chroma at all, so a small fraction threshold separates "square visible" from "not visible" cleanly.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Hue bands in degrees (wrapping for red). Saturation/value floors reject greys, white and near-black.
COLOUR_HUES: dict[str, tuple[tuple[float, float], ...]] = {
    "red": ((340.0, 360.0), (0.0, 20.0)),
    "yellow": ((40.0, 70.0),),
    "green": ((85.0, 160.0),),
    "blue": ((195.0, 255.0),),
}
MIN_SATURATION = 0.45
MIN_VALUE = 0.30
# Fraction of the image's pixels that must be the colour: 0.3 % is ~700 pixels of a 640×360 frame, far
# below a 100-px square (4.3 %) and far above what compression noise ever produces on grey.
MIN_FRACTION = 0.003
DEFAULT_COLOUR = "red"

_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOUR_HUES) + r")\b", re.IGNORECASE)
_DATA_URL = re.compile(r"^data:image/(?P<kind>jpeg|jpg|png|webp);base64,(?P<data>.*)$", re.DOTALL)
_VIDEO_URL = re.compile(r"^data:video/(?P<kind>mp4|webm|quicktime|mpeg);base64,(?P<data>.*)$", re.DOTALL)


class ImageDecodeError(ValueError):
    """An image part the test VLM cannot read (not a base64 data URL of a JPEG/PNG/WebP)."""


def find_colour_word(text: str) -> str | None:
    """The first colour word (red, green, blue, yellow) named in ``text``, lower-cased."""
    match = _COLOUR_WORD.search(text)
    return match.group(1).lower() if match else None


def decode_data_url(url: str) -> Image.Image:
    """Decode a ``data:image/jpeg;base64,...`` (or png/webp) URL into an RGB image."""
    match = _DATA_URL.match(url.strip())
    if match is None:
        head = url[:40] + ("…" if len(url) > 40 else "")
        raise ImageDecodeError(f"expected a base64 data URL of a JPEG or PNG image, got {head!r}")
    try:
        raw = base64.b64decode(match.group("data"), validate=False)
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (binascii.Error, OSError, ValueError) as exc:
        raise ImageDecodeError(f"cannot decode {match.group('kind')} image: {exc}") from exc
    return image.convert("RGB")


def decode_video_data_url(url: str, max_frames: int = 64) -> list[tuple[float, Image.Image]]:
    """Decode a ``data:video/mp4;base64,...`` URL into ``(seconds from its start, RGB frame)`` pairs."""
    import av

    match = _VIDEO_URL.match(url.strip())
    if match is None:
        head = url[:40] + ("…" if len(url) > 40 else "")
        raise ImageDecodeError(f"expected a base64 data URL of an MP4 video, got {head!r}")
    frames: list[tuple[float, Image.Image]] = []
    try:
        raw = base64.b64decode(match.group("data"), validate=False)
        with av.open(io.BytesIO(raw), "r") as container:
            for frame in container.decode(video=0):
                frames.append((float(frame.time or 0.0), Image.fromarray(frame.to_ndarray(format="rgb24"))))
                if len(frames) >= max_frames:
                    break
    except (binascii.Error, av.error.FFmpegError, ValueError) as exc:
        raise ImageDecodeError(f"cannot decode {match.group('kind')} video: {exc}") from exc
    if not frames:
        raise ImageDecodeError("the video has no frames")
    origin = frames[0][0]
    return [(round(t - origin, 3), image) for t, image in frames]


@dataclass(frozen=True)
class ColourMeasure:
    """How much of ``colour`` one image shows, and whether that counts as visible."""

    colour: str
    fraction: float

    @property
    def visible(self) -> bool:
        return self.fraction >= MIN_FRACTION


def colour_fraction(image: Image.Image, colour: str) -> float:
    """Fraction of ``image``'s pixels whose colour is ``colour`` (see module docstring for the test)."""
    bands = COLOUR_HUES[colour]
    hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float32)
    hue = hsv[..., 0] * (360.0 / 255.0)
    sat = hsv[..., 1] / 255.0
    val = hsv[..., 2] / 255.0
    in_band = np.zeros(hue.shape, dtype=bool)
    for low, high in bands:
        in_band |= (hue >= low) & (hue <= high)
    mask = in_band & (sat >= MIN_SATURATION) & (val >= MIN_VALUE)
    return float(mask.mean()) if mask.size else 0.0


def measure(image: Image.Image, colour: str) -> ColourMeasure:
    return ColourMeasure(colour=colour, fraction=colour_fraction(image, colour))
