"""Hostile playlists: the parser answers NotAStream or a playlist, never anything else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from livesight.sources.errors import NotAStream
from livesight.sources.hls import parse_playlist

TAGS = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    "#EXT-X-TARGETDURATION:2",
    "#EXT-X-MEDIA-SEQUENCE:",
    "#EXTINF:",
    "#EXT-X-ENDLIST",
    "#EXT-X-DISCONTINUITY",
    "#EXT-X-STREAM-INF:BANDWIDTH=",
    "#EXT-X-MAP:URI=",
    "#EXT-X-PROGRAM-DATE-TIME:",
    "#EXT-X-KEY:METHOD=AES-128,URI=",
    "#EXT-X-BYTERANGE:",
    "seg.ts",
    "http://x/y.m3u8",
    ",",
    "=",
    '"',
    "-1",
    "1e309",
    "NaN",
    "\x00",
    "RESOLUTION=1x",
    "2020-13-45T99:99:99Z",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TAGS) | st.text(max_size=20), max_size=30).map("\n".join))
def test_playlist_parser_never_crashes(body: str) -> None:
    for text in (body, "#EXTM3U\n" + body):
        try:
            playlist = parse_playlist(text, "http://127.0.0.1/live.m3u8")
        except NotAStream:
            continue
        assert playlist is not None


def test_a_valid_live_playlist_parses() -> None:
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\nseg7.ts\n"
    playlist = parse_playlist(text, "http://127.0.0.1/live.m3u8")
    assert playlist.media_sequence == 7 and playlist.segments[0].absolute_uri == "http://127.0.0.1/seg7.ts"
