"""``livesight sessions …`` and ``livesight jobs …``: talking to a LiveSight server through the SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

BaseURLOpt = Annotated[
    str | None, typer.Option("--base-url", help="Server URL (default: LIVESIGHT_BASE_URL or http://127.0.0.1:8800).")
]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (default: LIVESIGHT_API_KEY).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

sessions_app = typer.Typer(help="Livestream sessions on a LiveSight server.", no_args_is_help=True,
                           rich_markup_mode=None)
jobs_app = typer.Typer(help="Live-monitor jobs on a LiveSight server.", no_args_is_help=True, rich_markup_mode=None)


@contextmanager
def _client(base_url: str | None, api_key: str | None) -> Iterator[Any]:
    """An SDK client whose errors become one line on stderr and exit code 2 (1 for server errors)."""
    from livesight.sdk import APIConnectionError, APIStatusError, LiveSight, LiveSightAPIError

    try:
        with LiveSight(base_url=base_url, api_key=api_key) as client:
            yield client
    except APIStatusError as exc:
        remediation = f" {exc.remediation}" if getattr(exc, "remediation", "") else ""
        err.print(f"livesight: error: {exc.message}{remediation}", markup=False, soft_wrap=True)
        raise typer.Exit(1 if exc.status_code >= 500 else 2) from None
    except APIConnectionError as exc:
        err.print(
            f"livesight: error: cannot reach the LiveSight server ({exc}). Start it with `livesight serve`"
            " or set LIVESIGHT_BASE_URL.",
            markup=False, soft_wrap=True,
        )
        raise typer.Exit(2) from None
    except LiveSightAPIError as exc:
        err.print(f"livesight: error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json") if hasattr(model, "model_dump") else model


def _print_json(model: Any) -> None:
    out.print_json(json.dumps(_dump(model), default=str))


def _event_line(event: Any) -> str:
    return (f"{event.t_start}  stream_time {event.stream_time:8.2f}s  {event.label} — {event.description}"
            f"  ({event.confidence:.0%})")


# -- sessions ------------------------------------------------------------------------------------
@sessions_app.command("start")
def sessions_start(
    source_url: Annotated[str, typer.Argument(help="Live stream URL.")],
    name: Annotated[str, typer.Option(help="Friendly name shown in the web UI.")] = "session",
    query: Annotated[str | None, typer.Option("--query", help="Rapid-review query run on each chunk.")] = None,
    stream_id: Annotated[str | None, typer.Option(help="Existing parent stream id.")] = None,
    json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None,
) -> None:
    """Start a session: the server records the stream and reviews each chunk."""
    with _client(base_url, api_key) as client:
        started = client.livestream.start_session(source_url, name, rapid_review_query=query, stream_id=stream_id)
    if json_out:
        _print_json(started)
    else:
        out.print(f"session {started.session_id} on stream {started.stream_id}: {started.status}", markup=False)


@sessions_app.command("list")
def sessions_list(
    scope: Annotated[str | None, typer.Option(help="all, active or ended.")] = None,
    json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None,
) -> None:
    """List sessions."""
    with _client(base_url, api_key) as client:
        sessions = client.livestream.get_sessions(scope=scope)
    if json_out:
        _print_json([_dump(s) for s in sessions])
        return
    for s in sessions:
        out.print(f"{s.stream_id}  {s.session_id}  {s.status:<12} chunks {s.chunk_count:<4} events "
                  f"{len(s.events):<4} {s.name}", markup=False)


@sessions_app.command("get")
def sessions_get(
    stream_id: str, session_id: str, json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None
) -> None:
    """Show a session with its chunks and events."""
    with _client(base_url, api_key) as client:
        session = client.livestream.get_session(stream_id, session_id)
    if json_out:
        _print_json(session)
        return
    out.print(f"{session.name}: {session.status} · {session.chunk_count} chunks · {len(session.events)} events",
              markup=False)
    for event in session.events:
        out.print(_event_line(event), markup=False)


@sessions_app.command("events")
def sessions_events(
    stream_id: str, session_id: str,
    poll_interval: Annotated[float, typer.Option(min=0.2)] = 5.0,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None,
) -> None:
    """Print each new event as it arrives, until the session ends."""
    with _client(base_url, api_key) as client:
        for event in client.livestream.iter_events(stream_id, session_id, poll_interval=poll_interval,
                                                   timeout=timeout):
            if json_out:
                print(json.dumps(_dump(event), default=str), flush=True)
            else:
                out.print(_event_line(event), markup=False)


@sessions_app.command("end")
def sessions_end(stream_id: str, session_id: str, base_url: BaseURLOpt = None, api_key: KeyOpt = None) -> None:
    """End a session (its last chunk is still recorded and analysed)."""
    with _client(base_url, api_key) as client:
        result = client.livestream.end_session(stream_id, session_id)
    out.print(result.status, markup=False)


@sessions_app.command("manifest")
def sessions_manifest(session_id: str, base_url: BaseURLOpt = None, api_key: KeyOpt = None) -> None:
    """Print a signed HLS playlist URL of the recording (play it with ffplay, VLC or a browser)."""
    with _client(base_url, api_key) as client:
        manifest = client.livestream.get_signed_manifest(session_id)
    out.print(manifest.url, markup=False, soft_wrap=True)
    err.print(f"expires at {manifest.expires_at}", markup=False)


# -- jobs ----------------------------------------------------------------------------------------
@jobs_app.command("create")
def jobs_create(
    stream_url: str,
    condition: str,
    webhook_url: Annotated[str | None, typer.Option(help="Webhook mode: POST events here.")] = None,
    interval: Annotated[float, typer.Option(help="interval_seconds")] = 10.0,
    mode: Annotated[str, typer.Option(help="frames, clip or hybrid")] = "frames",
    clip_duration: Annotated[float, typer.Option()] = 3.0,
    duration: Annotated[float | None, typer.Option(help="monitor_duration_seconds (0: no limit)")] = 600.0,
    cooldown: Annotated[float, typer.Option()] = 0.0,
    max_triggers: Annotated[int, typer.Option(help="0: unlimited")] = 1,
    json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None,
) -> None:
    """Start a live-monitor job (polling, or webhook mode with --webhook-url)."""
    with _client(base_url, api_key) as client:
        job = client.monitors.create(
            stream_url, condition, webhook_url=webhook_url, interval_seconds=interval, input_mode=mode,
            clip_duration_seconds=clip_duration, monitor_duration_seconds=duration or None,
            trigger_cooldown_seconds=cooldown, max_triggers=max_triggers or None,
        )
    if json_out:
        _print_json(job)
    else:
        out.print(f"job {job.job_id}: {job.status}", markup=False)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option()] = None,
    type_: Annotated[str | None, typer.Option("--type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None,
) -> None:
    """List jobs, newest first."""
    with _client(base_url, api_key) as client:
        page = client.monitors.list(status=status, type=type_, limit=limit, offset=offset)
    if json_out:
        _print_json(page)
        return
    for job in page.jobs:
        out.print(f"{job.job_id}  {job.status:<10} {job.job_type:<13} {job.created_at}", markup=False)
    err.print(f"{len(page.jobs)} of {page.total}", markup=False)


@jobs_app.command("get")
def jobs_get(job_id: str, json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None) -> None:
    """Show a job: status, stats and triggers."""
    with _client(base_url, api_key) as client:
        job = client.monitors.get(job_id)
    if json_out:
        _print_json(job)
        return
    stats = _dump(job).get("stats", {})
    out.print(f"{job.job_id}: {job.status} ({stats.get('reason')}) · checks {stats.get('checks_performed')}"
              f" · triggers {stats.get('triggers_fired')}", markup=False)
    for trigger in _dump(job).get("triggers", []):
        out.print(f"  {trigger['t_start']}  {trigger.get('explanation')}  ({trigger['confidence']:.0%})", markup=False)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, base_url: BaseURLOpt = None, api_key: KeyOpt = None) -> None:
    """Cancel a running job."""
    with _client(base_url, api_key) as client:
        result = client.monitors.cancel(job_id)
    out.print(f"{result.job_id}: {result.status} — {result.message}", markup=False)


@jobs_app.command("events")
def jobs_events(
    job_id: str,
    last_event_id: Annotated[str | None, typer.Option(help="Resume after this event id.")] = None,
    progress: Annotated[bool, typer.Option("--progress", help="Also print progress events.")] = False,
    json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None,
) -> None:
    """Follow a job's events (SSE, reconnecting by itself) until it stops."""
    with _client(base_url, api_key) as client:
        for event in client.monitors.stream_events(job_id, last_event_id=last_event_id):
            if event.event == "progress" and not progress:
                continue
            if json_out:
                print(json.dumps({"id": event.id, "event": event.event, "data": event.data}, default=str), flush=True)
            else:
                out.print(f"[{event.id}] {event.event}: {json.dumps(event.data, default=str)[:200]}", markup=False)

