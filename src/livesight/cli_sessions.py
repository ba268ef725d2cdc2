"""``livesight sessions …``: livestream sessions on a LiveSight server, through the SDK."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from livesight.cli_common import CONTEXT_SETTINGS, err, json_line, out, require_text
from livesight.cli_format import local_time, session_event_line
from livesight.cli_remote import (
    BaseURLOpt,
    JsonLinesOpt,
    JsonOpt,
    KeyOpt,
    SessionIdArg,
    StreamIdArg,
    client,
    dump,
    print_table,
)
from livesight.cli_table import Column

sessions_app = typer.Typer(
    help="Livestream sessions on a LiveSight server.\n\nA session records a stream in chunks and reviews each one.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT_SETTINGS,
)


class Scope(enum.StrEnum):
    ALL = "all"
    ACTIVE = "active"
    ENDED = "ended"


@sessions_app.command("start")
def sessions_start(
    source_url: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE_URL",
            help="HLS .m3u8, rtsp(s):// URL, YouTube/Twitch live page or file.",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option(metavar="NAME", help="Friendly name shown in the web UI.")] = "session",
    query: Annotated[
        str | None,
        typer.Option(
            "--query", metavar="TEXT", help="What to look for in each chunk (without it the session only records)."
        ),
    ] = None,
    stream_id: Annotated[
        str | None, typer.Option(metavar="STREAM_ID", help="Add the session to this stream (default: a new one).")
    ] = None,
    json_out: JsonOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Start a session on SOURCE_URL.

    The server records it in chunks and reviews each chunk (for --query, when given).
    """
    source_url = require_text(source_url, "SOURCE_URL", "give the URL or file of the stream to record.")
    name = require_text(name, "--name", 'give the session a name, e.g. --name "front door".')
    if query is not None:
        query = require_text(
            query, "--query", 'say what to look for, e.g. --query "a person at the door", or leave it out.'
        )
    with client(base_url, api_key) as api:
        started = api.livestream.start_session(source_url, name, rapid_review_query=query, stream_id=stream_id)
    if json_out:
        json_line(dump(started))
    else:
        out.print(f"session {started.session_id} on stream {started.stream_id}: {started.status}", markup=False)


_SESSION_COLUMNS = [
    Column("SESSION"),
    Column("STREAM"),
    Column("STATUS"),
    Column("CHUNKS", align_right=True, drop=2),
    Column("EVENTS", align_right=True, drop=3),
    Column("CREATED", drop=1),
    Column("NAME", shrink=True, min_width=6, drop=4),
    Column("SOURCE", shrink=True, min_width=12),
]


@sessions_app.command("list")
def sessions_list(
    scope: Annotated[Scope, typer.Option(help="Which sessions: all, active (still recording) or ended.")] = Scope.ALL,
    json_out: JsonLinesOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """List sessions, one line each.

    Columns are cut to the terminal's width (… marks a cut field); --json has every field.
    """
    with client(base_url, api_key) as api:
        sessions = api.livestream.get_sessions(scope=scope.value)
    if json_out:
        for s in sessions:
            json_line(dump(s))
        return
    if not sessions:
        err.print("no sessions", markup=False)
        return
    rows = [
        [
            s.session_id,
            s.stream_id,
            s.status,
            str(s.chunk_count),
            str(len(s.events)),
            local_time(s.created_at),
            s.name,
            s.source_url,
        ]
        for s in sessions
    ]
    print_table(_SESSION_COLUMNS, rows)


@sessions_app.command("get")
def sessions_get(
    stream_id: StreamIdArg,
    session_id: SessionIdArg,
    json_out: JsonOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Show a session: its status, then one line per event."""
    with client(base_url, api_key) as api:
        session = api.livestream.get_session(stream_id, session_id)
    if json_out:
        json_line(dump(session))
        return
    out.print(
        f"{session.name}: {session.status} · {session.chunk_count} chunks · {len(session.events)} events"
        f" · {session.source_url}",
        markup=False,
        soft_wrap=True,
    )
    if session.error:
        out.print(f"error: {session.error}", markup=False, soft_wrap=True)
    for event in session.events:
        out.print(session_event_line(event), markup=False, soft_wrap=True)


@sessions_app.command("events")
def sessions_events(
    stream_id: StreamIdArg,
    session_id: SessionIdArg,
    poll_interval: Annotated[
        float, typer.Option(metavar="SECONDS", min=0.2, help="Seconds between polls of the server.")
    ] = 5.0,
    timeout: Annotated[
        float | None, typer.Option(metavar="SECONDS", min=0, help="Stop after this many seconds (default: never).")
    ] = None,
    json_out: JsonLinesOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Print a session's new events as they arrive.

    One line per event, until the session ends (or --timeout).
    """
    with client(base_url, api_key) as api:
        events = api.livestream.iter_events(stream_id, session_id, poll_interval=poll_interval, timeout=timeout)
        for event in events:
            if json_out:
                json_line(dump(event))
            else:
                out.print(session_event_line(event), markup=False, soft_wrap=True)


@sessions_app.command("end")
def sessions_end(
    stream_id: StreamIdArg,
    session_id: SessionIdArg,
    json_out: JsonOpt = False,
    base_url: BaseURLOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """End a session.

    Its last chunk is still recorded and analysed.
    """
    with client(base_url, api_key) as api:
        result = api.livestream.end_session(stream_id, session_id)
    if json_out:
        json_line(dump(result))
    else:
        out.print(result.status, markup=False)


@sessions_app.command("manifest")
def sessions_manifest(
    session_id: SessionIdArg, json_out: JsonOpt = False, base_url: BaseURLOpt = None, api_key: KeyOpt = None
) -> None:
    """Print a signed HLS playlist URL of the recording.

    Play it with ffplay, VLC or a browser; the link expires (its expiry goes to stderr).
    """
    with client(base_url, api_key) as api:
        manifest = api.livestream.get_signed_manifest(session_id)
    if json_out:
        json_line(dump(manifest))
        return
    out.print(manifest.url, markup=False, soft_wrap=True)
    err.print(f"expires at {manifest.expires_at}", markup=False)
