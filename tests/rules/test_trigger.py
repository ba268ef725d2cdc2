from __future__ import annotations

from livesight.rules import (
    JobStatus,
    SessionStatus,
    StopReason,
    TriggerRule,
    TriggerState,
    format_clock,
    job_status_for,
    make_event,
    session_status_for,
)


def _fires(rule: TriggerRule, verdicts: list[bool]) -> list[float]:
    state = TriggerState(rule)
    return [float(t) for t, match in enumerate(verdicts) if state.apply(match, float(t)).fire]


def test_once_per_appearance_fires_on_rising_edges_only() -> None:
    rule = TriggerRule(max_triggers=None, once_per_appearance=True)
    assert _fires(rule, [False, True, True, True, False, False, True, True]) == [1.0, 6.0]


def test_every_positive_check_with_cooldown() -> None:
    rule = TriggerRule(cooldown_seconds=2.0, max_triggers=None)
    assert _fires(rule, [True, True, True, True, True, False, True]) == [0.0, 2.0, 4.0, 6.0]


def test_max_triggers_ends_the_rule() -> None:
    state = TriggerState(TriggerRule(max_triggers=2))
    decisions = [state.apply(True, float(t)) for t in range(4)]
    assert [d.fire for d in decisions] == [True, True, False, False]
    assert decisions[1].done and state.done


def test_statuses_follow_the_spec() -> None:
    assert job_status_for(StopReason.CONDITION_TRIGGERED) is JobStatus.COMPLETED
    assert job_status_for(StopReason.MAX_TRIGGERS_REACHED) is JobStatus.COMPLETED
    assert job_status_for(StopReason.MAX_DURATION_REACHED) is JobStatus.STOPPED
    assert job_status_for(StopReason.CANCELLED) is JobStatus.STOPPED
    assert job_status_for(StopReason.SOURCE_FAILED) is JobStatus.FAILED
    assert session_status_for(StopReason.SOURCE_ENDED) is SessionStatus.FINISHED
    assert session_status_for(StopReason.SOURCE_FAILED) is SessionStatus.FAILED


def test_event_timing_fields_agree() -> None:
    event = make_event(
        type="detection",
        label="car",
        description="a red car",
        severity="high",
        confidence=1.7,
        chunk_index=7,
        chunk_id="chk_x",
        chunk_start=70.04,
        chunk_relative_time=3.5,
        pts_offset=1.4,
        analysis_id="ana_x",
        duration=2.0,
    )
    assert event.stream_time == 73.54 and event.hls_cumulative_offset == 70.04 and event.chunk_relative_time == 3.5
    assert event.capture_time == 74.94
    assert (event.t_start, event.t_end) == ("01:13", "01:15")
    assert event.confidence == 1.0 and event.created_at.endswith("Z")
    assert format_clock(3725.2) == "01:02:05" and format_clock(59.9) == "00:59"
