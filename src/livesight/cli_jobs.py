"""``livesight jobs …``: live-monitor jobs on a LiveSight server, through the SDK."""

from __future__ import annotations

from typing import Annotated

import typer

from livesight.cli_common import CONTEXT_SETTINGS, MODE_HELP, Mode, err, json_line, out, require_text
from livesight.cli_format import StatusLine, count, job_event_line, local_time, stream_clock
from livesight.cli_remote import (
    BaseURLOpt,
    JobIdArg,
    JsonLinesOpt,
    JsonOpt,
    KeyOpt,
    client,
    dump,
    print_table,
)
from livesight.cli_table import Column
from livesight.store.records import JobStatus, JobType  # the one status enum, as choices

jobs_app = typer.Typer(
    help="Live-monitor jobs on a LiveSight server.\n\nA job checks a yes/no condition on a live stream until it stops.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT_SETTINGS,
)


@jobs_app.command("create")
def jobs_create(
    stream_url: Annotated[
        str,
        typer.Argument(
            metavar="STREAM_URL", help="HLS .m3u8, rtsp(s):// URL or YouTube/Twitch live page.", show_default=False
        ),
    ],
    condition: Annotated[
        str,
        typer.Argument(
            metavar="CONDITION",
            help='A yes/no question about the picture, e.g. "is the gate open?"',
            show_default=False,
        ),
    ],
    webhook_url: Annotated[
        str | None, typer.Option(metavar="URL", help="POST signed webhooks here instead of only storing events.")
    ] = None,
    interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=1,
            max=300,
            help="Seconds between checks: from the server's minimum (LIVESIGHT_MIN_INTERVAL_SECONDS, 5 unless "
            "configured lower) to 300.",
        ),
    ] = 10.0,
    mode: Annotated[Mode, typer.Option(help=MODE_HELP)] = Mode.FRAMES,
    clip_duration: Annotated[
        float, typer.Option(metavar="SECONDS", min=1, max=10, help="Seconds a clip covers (clip, hybrid).")
    ] = 3.0,
    duration: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", min=0, help="Stop the job after this many seconds (at least 5; 0: until cancelled)."
        ),
    ] = 600.0,
    cooldown: Annotated[
        float, typer.Option(metavar="SECONDS", min=0, max=3600, help="Minimum seconds between two triggers.")
    ] = 0.0,
    max_triggers: Annotated[
        int, typer.Option(metavar="N", min=0, help="Stop the job after this many triggers (0: unlimited).")
    ] = 1,
    no_prefilter: Annotated[
        bool, typer.Option("--no-prefilter", help="Ask the model at every check, even when nothing changed.")
    ] = False,
    json_out: JsonOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Start a live-monitor job on STREAM_URL.

    Follow it with `livesight jobs events JOB_ID`, or receive its webhooks with --webhook-url.
    """
    stream_url = require_text(stream_url, "STREAM_URL", "give the URL of the live stream to monitor.")
    condition = require_text(condition, "CONDITION", 'say what to watch for, e.g. "is there a person at the door?".')
    with client(base_url, api_key) as api:
        job = api.monitors.create(
            stream_url,
            condition,
            webhook_url=webhook_url,
            interval_seconds=interval,
            input_mode=mode.input_mode,
            clip_duration_seconds=clip_duration,
            monitor_duration_seconds=duration or None,
            trigger_cooldown_seconds=cooldown,
            max_triggers=max_triggers or None,
            enable_prefilter=not no_prefilter,
        )
    if json_out:
        json_line(dump(job))
    else:
        out.print(f"job {job.job_id}: {job.status}", markup=False)


_JOB_COLUMNS = [
    Column("JOB"),
    Column("STATUS"),
    Column("TYPE", drop=2),
    Column("CREATED", drop=1),
    Column("STREAM", shrink=True, min_width=12),
]


@jobs_app.command("list")
def jobs_list(
    status: Annotated[
        JobStatus | None,
        typer.Option(
            metavar="STATUS", help="Only jobs with this status: pending, running, completed, stopped or failed."
        ),
    ] = None,
    type_: Annotated[
        JobType | None,
        typer.Option("--type", metavar="TYPE", help="Only jobs of this type: live-monitor, live-digest or watch."),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=100, help="How many jobs to list.")] = 20,
    offset: Annotated[int, typer.Option(metavar="N", min=0, help="Skip this many of the newest jobs first.")] = 0,
    json_out: JsonLinesOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """List jobs, newest first.

    One line each, cut to the terminal's width (… marks a cut field); --json has every field.
    """
    with client(base_url, api_key) as api:
        page = api.monitors.list(
            status=status.value if status else None, type=type_.value if type_ else None, limit=limit, offset=offset
        )
    if json_out:
        for job in page.jobs:
            json_line(dump(job))
        return
    if page.jobs:
        rows = [[j.job_id, j.status, j.job_type, local_time(j.created_at), j.stream_url] for j in page.jobs]
        print_table(_JOB_COLUMNS, rows)
    err.print(f"{len(page.jobs)} of {page.total}", markup=False)


@jobs_app.command("get")
def jobs_get(job_id: JobIdArg, json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None) -> None:
    """Show a job: status, counters, then one line per trigger."""
    with client(base_url, api_key) as api:
        job = api.monitors.get(job_id)
    if json_out:
        json_line(dump(job))
        return
    stats = job.stats
    reason = f" ({stats.reason})" if stats.reason else ""
    out.print(
        f"{job.job_id}: {job.status}{reason} · {job.job_type} · {count(stats.checks_performed, 'check')}"
        f" · {count(stats.triggers_fired, 'trigger')} · {stats.elapsed_seconds:.0f} s",
        markup=False,
        soft_wrap=True,
    )
    if job.condition:
        out.print(f"condition: {job.condition}", markup=False, soft_wrap=True)
    out.print(f"stream: {job.stream_url}", markup=False, soft_wrap=True)
    for t in job.triggers:
        out.print(
            f"  {t.t_start}  stream {stream_clock(t.stream_time)}  {t.confidence:.0%}  {t.explanation}",
            markup=False,
            soft_wrap=True,
        )


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: JobIdArg, json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None
) -> None:
    """Cancel a running job.

    A job that has already ended is left as it was.
    """
    with client(base_url, api_key) as api:
        result = api.monitors.cancel(job_id)
    if json_out:
        json_line(dump(result))
    else:
        out.print(f"{result.job_id}: {result.status} — {result.message}", markup=False)


@jobs_app.command("events")
def jobs_events(
    job_id: JobIdArg,
    last_event_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Resume after this event id (default: from the first event).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress", help="Also print a line per check (progress events).")
    ] = False,
    json_out: JsonLinesOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Follow a job's events until it stops.

    One line each: time, event, verdict and confidence, stream time, explanation. Checks (progress events)
    show in a status line on a terminal, or as lines with --progress.
    """
    with client(base_url, api_key) as api, StatusLine() as status:
        for event in api.monitors.stream_events(job_id, last_event_id=last_event_id):
            if event.event == "progress" and not progress:
                status.update(job_event_line(event.event, event.data))
                continue
            if json_out:
                json_line({"id": event.id, "event": event.event, "data": event.data})
            else:
                out.print(job_event_line(event.event, event.data), markup=False, soft_wrap=True)
