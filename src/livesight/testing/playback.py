"""What a recording shows when played: every frame's time and how much of a colour it holds (for tests
that check a signed playlist plays the right moments)."""

from __future__ import annotations

import av

from livesight.testing._vision import colour_fraction


def frames_by_time(playlist_url: str, colour: str = "red") -> list[tuple[float, float]]:
    """(seconds from the first frame, fraction of ``colour`` pixels) of every frame ``playlist_url`` plays."""
    out: list[tuple[float, float]] = []
    with av.open(playlist_url, options={"protocol_whitelist": "http,tcp,file,crypto,data"}) as container:
        first: float | None = None
        for frame in container.decode(video=0):
            if frame.pts is None or frame.time_base is None:
                continue  # nothing to place it on the timeline by
            t = float(frame.pts * frame.time_base)
            first = t if first is None else first
            image = frame.to_image()  # type: ignore[no-untyped-call]
            out.append((t - first, colour_fraction(image, colour)))
    return out
