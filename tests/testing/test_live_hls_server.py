"""The live HLS test server: a sliding playlist driven by the media clock, ENDLIST, and injected faults."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import m3u8
import pytest

from livesight.testing import FaultKind, LiveHLSServer, ManualClock, SceneSpec, frame_index_from_image


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def _playlist(http: httpx.Client, url: str) -> m3u8.M3U8:
    response = http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    return m3u8.loads(response.text)


def test_live_playlist_starts_with_the_first_segment_and_slides(
    short_hls: Path, clock: ManualClock, http: httpx.Client
) -> None:
    with LiveHLSServer(short_hls, window=3, clock=clock) as server:
        first = _playlist(http, server.url)
        assert [s.uri for s in first.segments] == ["seg00000.ts"]
        assert first.media_sequence == 0 and first.target_duration == 2 and not first.is_endlist

        clock.advance(5.0)  # media clock 2 + 5 = 7 s: segments ending at 2, 4, 6 are out
        second = _playlist(http, server.url)
        assert [s.uri for s in second.segments] == ["seg00000.ts", "seg00001.ts", "seg00002.ts"]

        clock.advance(2.0)  # media 9 s: the window drops seg0
        third = _playlist(http, server.url)
        assert third.media_sequence == 1
        assert [s.uri for s in third.segments] == ["seg00001.ts", "seg00002.ts", "seg00003.ts"]
        assert [s.duration for s in third.segments] == [2.0, 2.0, 2.0]

        body = http.get(f"{server.base_url}/seg00003.ts")
        assert body.status_code == 200 and body.headers["content-type"] == "video/mp2t"
        assert body.content == (short_hls / "seg00003.ts").read_bytes()


def test_speed_scales_the_media_clock(short_hls: Path, clock: ManualClock, http: httpx.Client) -> None:
    with LiveHLSServer(short_hls, window=10, speed=4.0, clock=clock) as server:
        clock.advance(1.0)  # 4 media seconds later: media clock 6 s
        assert len(_playlist(http, server.url).segments) == 3
        server.set_speed(1.0)  # no jump when the pace changes
        assert server.media_time() == pytest.approx(6.0)
        clock.advance(2.0)
        assert len(_playlist(http, server.url).segments) == 4


def test_endlist_is_appended_only_when_configured(short_hls: Path, clock: ManualClock, http: httpx.Client) -> None:
    with (
        LiveHLSServer(short_hls, end_list=True, clock=clock) as ending,
        LiveHLSServer(short_hls, end_list=False, clock=clock) as stalling,
    ):
        clock.advance(8.0)  # media 10 s of 12: not everything published yet
        assert not _playlist(http, ending.url).is_endlist
        clock.advance(2.0)
        done = _playlist(http, ending.url)
        assert done.is_endlist and done.segments[-1].uri == "seg00005.ts"

        stalled = http.get(stalling.url).text
        clock.advance(30.0)
        assert http.get(stalling.url).text == stalled  # a stalled live stream: no ENDLIST, no new segments
        assert "#EXT-X-ENDLIST" not in stalled


def test_vod_and_master_playlists(short_hls: Path, http: httpx.Client) -> None:
    with LiveHLSServer(short_hls) as server:
        vod = _playlist(http, server.vod_url)
        assert vod.playlist_type == "vod" and vod.is_endlist
        assert [s.uri for s in vod.segments] == [f"seg{k:05d}.ts" for k in range(6)]

        master = _playlist(http, server.master_url)
        assert master.is_variant
        [variant] = master.playlists
        assert variant.uri == "live.m3u8"
        assert variant.stream_info.resolution == (640, 360)
        assert variant.stream_info.codecs.startswith("avc1.")
        assert variant.stream_info.bandwidth > 0


def test_program_date_time_follows_the_media_timeline(short_hls: Path, http: httpx.Client) -> None:
    with LiveHLSServer(short_hls, program_date_time=True, window=10, preroll=6.0) as server:
        playlist = _playlist(http, server.url)
        stamps = [s.program_date_time for s in playlist.segments]
        assert len(stamps) == 3 and all(stamp is not None for stamp in stamps)
        assert [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)] == [2.0, 2.0]


def test_outages_and_vanishing_are_on_the_wall_clock(short_hls: Path, clock: ManualClock, http: httpx.Client) -> None:
    with LiveHLSServer(short_hls, outages=[(1.0, 2.0)], vanish_at=5.0, clock=clock) as server:
        assert http.get(server.url).status_code == 200
        clock.advance(1.5)
        assert http.get(server.url).status_code == 503
        assert http.get(f"{server.base_url}/seg00000.ts").status_code == 503
        clock.advance(1.0)
        assert http.get(server.url).status_code == 200
        server.set_down(True)
        assert http.get(server.url).status_code == 503
        server.set_down(False)
        assert http.get(server.url).status_code == 200
        clock.advance(3.0)
        assert [http.get(server.url).status_code for _ in range(3)] == [503, 503, 503]

        statuses = [r.status for r in server.requests if r.path == "/live.m3u8"]
        assert statuses == [200, 503, 200, 503, 200, 503, 503, 503]


def test_outage_can_drop_connections(short_hls: Path, http: httpx.Client) -> None:
    with LiveHLSServer(short_hls, outage_mode="close") as server:
        server.set_down(True)
        with pytest.raises(httpx.TransportError):
            http.get(server.url)
        server.set_down(False)
        assert http.get(server.url).status_code == 200
        assert [r.status for r in server.requests] == [None, 200]


def test_segment_faults(short_hls: Path, clock: ManualClock, http: httpx.Client) -> None:
    whole = (short_hls / "seg00002.ts").read_bytes()
    faults: dict[str, FaultKind] = {
        "seg00000.ts": "404",
        "seg00001.ts": "500",
        "seg00002.ts": "truncate",
        "seg00003.ts": "corrupt",
    }
    with LiveHLSServer(short_hls, segment_faults=faults, stall_seconds=0.2, clock=clock) as server:
        base = server.base_url
        assert http.get(f"{base}/seg00000.ts").status_code == 404
        assert http.get(f"{base}/seg00001.ts").status_code == 500
        truncated = http.get(f"{base}/seg00002.ts")
        assert truncated.status_code == 200 and truncated.content == whole[: len(whole) // 2]
        corrupt = http.get(f"{base}/seg00003.ts").content
        original = (short_hls / "seg00003.ts").read_bytes()
        assert len(corrupt) == len(original) and corrupt != original

        server.set_segment_fault("seg00004.ts", "reset")
        with pytest.raises(httpx.TransportError):
            http.get(f"{base}/seg00004.ts")
        server.set_segment_fault("seg00004.ts", "stall")
        with pytest.raises(httpx.TransportError):
            http.get(f"{base}/seg00004.ts")  # headers, then nothing, then the connection dies
        server.set_segment_fault("seg00004.ts", None)
        assert http.get(f"{base}/seg00004.ts").status_code == 200

        server.fail_next("live.m3u8", "500", times=2)
        assert [http.get(server.url).status_code for _ in range(3)] == [500, 500, 200]

        server.add_fault_hook(lambda name, wall: "404" if name == "seg00005.ts" and wall >= 10 else None)
        assert http.get(f"{base}/seg00005.ts").status_code == 200
        clock.advance(10.0)
        assert http.get(f"{base}/seg00005.ts").status_code == 404
        assert http.get(f"{base}/nope.ts").status_code == 404
        assert server.request_count("seg00004.ts") == 3


def test_pyav_reads_the_live_stream_from_media_time_zero(short_hls: Path, short_spec: SceneSpec) -> None:
    # Twelve seconds of video at 8x: a live reader follows the playlist, whatever its pace.
    with LiveHLSServer(short_hls, speed=8.0, end_list=True) as server:
        with av.open(server.url, timeout=(5.0, 5.0)) as container:
            frames = [
                (round(float(f.time) * short_spec.fps), frame_index_from_image(f.to_ndarray(format="rgb24")))
                for f in container.decode(video=0)
            ]
        # Every frame exactly once, in order, with PTS agreeing with the picture: no skipped segments.
        assert [n for n, _ in frames] == list(range(short_spec.frame_count))
        assert all(n == index for n, index in frames)
        assert server.request_count("live.m3u8") >= 2  # it really followed a live, growing playlist


def test_stop_releases_stalled_requests(short_hls: Path) -> None:
    # A stall far longer than pytest's timeout: if stop() waited for it, this test would time out.
    server = LiveHLSServer(short_hls, segment_faults={"seg00000.ts": "stall"}, stall_seconds=3600.0).start()
    client = httpx.Client(timeout=30.0)
    try:
        with client.stream("GET", f"{server.base_url}/seg00000.ts") as response:
            assert response.status_code == 200  # headers arrive; the body never does
            server.stop()
            with pytest.raises(httpx.TransportError):
                response.read()
    finally:
        client.close()
        server.stop()
