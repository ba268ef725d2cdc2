"""The rule state machine: appearances with a start and an end, and each operator on its own."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livesight.rules.appearances import Answer, RuleSpec, RuleState, Schedule, Transition


def answers(truth: list[tuple[float, float]], until: float, every: float = 1.0, **overrides: float) -> list[Answer]:
    """A check every ``every`` seconds, positive (confidence 0.9) inside the ``truth`` windows."""
    out = []
    t = 0.0
    while t < until:
        inside = any(a <= t < b for a, b in truth)
        confidence = overrides.get(f"{t:g}", 0.9 if inside else 0.1)
        out.append(Answer(t, inside if f"{t:g}" not in overrides else confidence >= 0.5, confidence, f"f{t:g}"))
        t = round(t + every, 6)
    return out


def run(spec: RuleSpec, stream: list[Answer]) -> list[Transition]:
    state = RuleState(spec)
    out = [tr for a in stream for tr in state.apply(a)]
    return out + state.close(stream[-1].time if stream else 0.0)


def spans(transitions: list[Transition]) -> list[tuple[str, float, float | None]]:
    return [(t.kind, t.start, t.end) for t in transitions]


def test_every_positive_answer_starts_an_appearance_that_ends_at_the_last_one() -> None:
    got = run(RuleSpec("red", "red?"), answers([(20, 28), (50, 58)], 70))
    assert spans(got) == [("started", 20, None), ("ended", 20, 27), ("started", 50, None), ("ended", 50, 57)]
    started, ended = got[0], got[1]
    assert started.at == 20 and ended.at == 28 and ended.duration == 7
    assert (ended.first_evidence, ended.last_evidence, ended.peak_confidence) == ("f20", "f27", 0.9)


def test_min_duration_starts_an_appearance_only_after_it_lasted_that_long_and_dates_it_from_its_start() -> None:
    got = run(RuleSpec("red", "red?", min_duration_seconds=5), answers([(20, 28), (40, 43)], 70))
    assert spans(got) == [("started", 20, None), ("ended", 20, 27)]  # 40-43 never lasted 5 s
    assert got[0].at == 25  # announced once it had lasted 5 s


def test_k_of_n_lets_a_flickering_answer_through_and_single_blips_not() -> None:
    flicker = {"36": 0.1, "39": 0.1, "60": 0.9}  # misses inside 35-45, and one lone blip at 60
    stream = answers([(35, 45)], 70, **flicker)
    got = run(RuleSpec("blue", "blue?", k=2, n=3), stream)
    assert [t.kind for t in got] == ["started", "ended"]
    assert got[0].start == 35 and got[0].at == 37  # the second positive of three
    every = run(RuleSpec("blue", "blue?"), stream)
    assert len([t for t in every if t.kind == "started"]) == 4  # without k of n: split by each miss, and the blip


def test_hysteresis_and_an_exit_delay_keep_one_appearance_across_a_missed_frame() -> None:
    wobbly = {"24": 0.1, "25": 0.55}  # one missed frame, then a less sure answer
    stream = answers([(20, 30)], 40, **wobbly)
    plain = run(RuleSpec("red", "red?", enter_confidence=0.7), stream)
    assert len([t for t in plain if t.kind == "started"]) == 2  # split at the missed frame
    held = run(RuleSpec("red", "red?", enter_confidence=0.7, exit_confidence=0.5, exit_delay_seconds=2), stream)
    assert spans(held) == [("started", 20, None), ("ended", 20, 29)]


def test_cooldown_keeps_a_new_appearance_from_starting_too_soon() -> None:
    stream = answers([(10, 12), (14, 16), (40, 42)], 50)
    got = run(RuleSpec("red", "red?", cooldown_seconds=10), stream)
    assert [t.start for t in got if t.kind == "started"] == [10, 40]


def test_ongoing_reminders_come_at_their_interval() -> None:
    got = run(RuleSpec("red", "red?", ongoing_every_seconds=3), answers([(10, 20)], 25))
    assert [(t.kind, t.at) for t in got] == [
        ("started", 10),
        ("ongoing", 13),
        ("ongoing", 16),
        ("ongoing", 19),
        ("ended", 20),
    ]


def test_close_ends_an_open_appearance_at_its_last_positive_answer() -> None:
    state = RuleState(RuleSpec("red", "red?"))
    for a in answers([(5, 100)], 12):
        state.apply(a)
    assert state.active
    [ended] = state.close(12)
    assert (ended.kind, ended.start, ended.end) == ("ended", 5, 11)
    assert not state.active and state.close(13) == []


@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=60),
    st.integers(0, 60),
    st.integers(1, 3),
    st.integers(0, 2),
    st.sampled_from([0.0, 2.0]),
    st.sampled_from([0.0, 1.5]),
    st.sampled_from([0.0, 3.0]),
)
def test_a_restart_anywhere_changes_nothing(
    raw: list[tuple[bool, float]], cut: int, n: int, less: int, min_duration: float, delay: float, cooldown: float
) -> None:
    """Saving the state and going on from it (a restart) gives the transitions an unbroken run gives."""
    spec = RuleSpec(
        "r",
        "r?",
        k=max(1, n - less),
        n=n,
        min_duration_seconds=min_duration,
        enter_confidence=0.3,
        exit_confidence=0.2,
        exit_delay_seconds=delay,
        cooldown_seconds=cooldown,
        ongoing_every_seconds=4.0,
    )
    stream = [Answer(float(i), match, confidence, f"f{i}") for i, (match, confidence) in enumerate(raw)]
    whole = RuleState(spec)
    expected = [t for a in stream for t in whole.apply(a)]
    first = RuleState(spec)
    got = [t for a in stream[:cut] for t in first.apply(a)]
    resumed = RuleState(spec, saved=first.to_dict())
    got += [t for a in stream[cut:] for t in resumed.apply(a)]
    assert got == expected
    assert resumed.appearances == whole.appearances
    # Every appearance that started ends once, after it started, never before its start.
    opened = 0
    for t in expected:
        if t.kind == "started":
            opened += 1
        elif t.kind == "ended":
            opened -= 1
            assert t.end is not None and t.start <= t.end <= t.at
        assert opened in (0, 1)


def test_a_schedule_is_days_and_hours_in_its_time_zone() -> None:
    nights = Schedule(days=frozenset({0, 1, 2, 3, 4}), start=dt.time(22), end=dt.time(6), timezone="Europe/Paris")
    at = dt.datetime(2026, 12, 1, 21, 30, tzinfo=dt.UTC)  # a Tuesday, 22:30 in Paris
    assert nights.active(at)
    assert nights.active(dt.datetime(2026, 12, 2, 4, 0, tzinfo=dt.UTC))  # Wednesday 05:00 in Paris
    assert not nights.active(dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC))  # midday
    assert not nights.active(dt.datetime(2026, 12, 5, 22, 0, tzinfo=dt.UTC))  # Saturday night: not a listed day
    assert nights.active(dt.datetime(2026, 12, 5, 4, 0, tzinfo=dt.UTC))  # Saturday 05:00: Friday's night
    weekends = Schedule(days=frozenset({5, 6}))
    assert weekends.active(dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)) and not weekends.active(at)


def test_bad_operators_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="k_of_n"):
        RuleSpec("r", "r?", k=3, n=2)
    with pytest.raises(ValueError, match="cooldown_seconds"):
        RuleSpec("r", "r?", cooldown_seconds=-1)
    with pytest.raises(ValueError, match="days"):
        Schedule(days=frozenset({7}))
    with pytest.raises(Exception, match="Mars"):
        Schedule(timezone="Mars/Olympus")
