from __future__ import annotations

import pytest

from livesight.sources.timeline import Timeline


def test_first_keyframe_is_zero_and_time_follows_pts() -> None:
    tl = Timeline()
    tl.reanchor(1.4, epoch=0)
    assert tl.packet_time(1.4) == 0.0
    assert tl.frame_time(1.5) == pytest.approx(0.1)
    assert tl.frame_time(3.4) == pytest.approx(2.0)


def test_new_epoch_continues_one_frame_later() -> None:
    tl = Timeline()
    tl.set_frame_duration(0.1)
    tl.reanchor(100.0, epoch=0)
    tl.frame_time(105.0)  # 5 s in
    assert tl.needs_anchor(7.0, epoch=1)
    tl.reanchor(7.0, epoch=1)  # reconnect: the source clock restarted elsewhere
    assert tl.frame_time(7.0) == pytest.approx(5.1)
    assert tl.frame_time(8.0) == pytest.approx(6.1)
    assert tl.discontinuities == 1


@pytest.mark.parametrize("jump", [-5.0, 60.0])
def test_pts_jumps_inside_an_epoch_are_discontinuities(jump: float) -> None:
    tl = Timeline()
    tl.reanchor(10.0, epoch=0)
    tl.packet_time(12.0)
    assert not tl.needs_anchor(12.5, epoch=0)  # normal progress (and B-frame reordering)
    assert not tl.needs_anchor(11.8, epoch=0)
    assert tl.needs_anchor(12.0 + jump, epoch=0)


def test_a_stretch_started_without_pts_is_placed_by_the_first_real_one() -> None:
    tl = Timeline()
    tl.set_frame_duration(0.1)
    tl.reanchor(0.0, epoch=0)  # guessed: the first RTSP packet had no PTS
    assert tl.packet_time(0.0) == 0.0
    tl.rebase(5000.0)  # the camera's clock turns out to be at 5000 s
    assert tl.packet_time(5000.0) == pytest.approx(0.1)
    assert tl.frame_time(5000.5) == pytest.approx(0.6)
