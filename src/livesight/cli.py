"""The ``livesight`` command: watch, check, validate, demo, serve; groups in cli_jobs, cli_sessions, cli_keys."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from livesight import __version__
from livesight.cli_common import (
    CONTEXT_SETTINGS,
    MODE_HELP,
    Mode,
    err,
    fail,
    json_line,
    out,
    plain,
    plain_usage,
    require_text,
    settings,
)
from livesight.cli_format import StatusLine
from livesight.cli_jobs import jobs_app
from livesight.cli_keys import keys_app
from livesight.cli_sessions import sessions_app
from livesight.errors import LiveSightError

app = typer.Typer(
    name="livesight",
    help="Watch live video with natural-language conditions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help and errors: no boxes
    context_settings=CONTEXT_SETTINGS,
)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"livesight {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Watch live video with natural-language conditions."""


def _setup_logging(verbose: bool) -> None:
    from livesight.logs import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.WARNING)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except LiveSightError as exc:
        raise fail(exc.message, exc.remediation) from None


VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens (to stderr).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per line (JSON Lines), for scripts.")]
ModeOpt = Annotated[Mode, typer.Option(help=MODE_HELP)]
ClipDurationOpt = Annotated[
    float, typer.Option(metavar="SECONDS", help="Seconds a clip covers (clip, hybrid).", min=1, max=10)
]
SourceArg = Annotated[
    str,
    typer.Argument(
        metavar="SOURCE",
        help="HLS .m3u8 URL, rtsp(s):// URL, YouTube/Twitch live page or video file.",
        show_default=False,
    ),
]
CONDITION_EXAMPLE = 'say what to watch for, e.g. "is there a person at the door?".'
SOURCE_EXAMPLE = "give a stream URL or a video file."


@app.command()
def watch(
    source: SourceArg,
    condition: Annotated[
        str,
        typer.Argument(
            metavar="CONDITION", help='What to watch for, e.g. "is there a red square?"', show_default=False
        ),
    ],
    interval: Annotated[float, typer.Option(metavar="SECONDS", help="Seconds of video between checks.", min=0.2)] = 2.0,
    mode: ModeOpt = Mode.FRAMES,
    clip_duration: ClipDurationOpt = 3.0,
    every: Annotated[
        bool, typer.Option("--every", help="Report every positive check, not once per appearance.")
    ] = False,
    cooldown: Annotated[
        float, typer.Option(metavar="SECONDS", help="Minimum seconds between two reports.", min=0)
    ] = 0.0,
    max_triggers: Annotated[
        int | None, typer.Option(metavar="N", help="Stop after this many reports (default: no limit).", min=1)
    ] = None,
    duration: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Stop after this many seconds (default: no limit).", min=1)
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="HLS: start at the first listed segment, not the live edge.")
    ] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Files: analyse as fast as possible, not in real time.")] = False,
    chunk_seconds: Annotated[
        float, typer.Option(metavar="SECONDS", help="Length of the recorded chunks.", min=1)
    ] = 10.0,
    no_prefilter: Annotated[
        bool, typer.Option("--no-prefilter", help="Ask the model at every check, even when nothing changed.")
    ] = False,
    json_lines: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Watch SOURCE and report when CONDITION becomes true.

    Each appearance is reported once (--every: every positive check), with its stream time, the model's
    explanation and confidence, under a status line. Ctrl-C stops cleanly.
    """
    source = require_text(source, "SOURCE", SOURCE_EXAMPLE)
    condition = require_text(condition, "CONDITION", CONDITION_EXAMPLE)
    _setup_logging(verbose)
    from livesight.pipeline.watch import WatchOptions, watch_source
    from livesight.rules import TriggerRule

    options = WatchOptions(
        source=source,
        condition=condition,
        interval=interval,
        mode=mode.input_mode,
        clip_duration=clip_duration,
        rule=TriggerRule(cooldown_seconds=cooldown, max_triggers=max_triggers, once_per_appearance=not every),
        duration=duration,
        start_at="first" if from_start else "live_edge",
        realtime=not fast,
        chunk_seconds=chunk_seconds,
        prefilter=not no_prefilter,
    )
    printer = TriggerPrinter(json_lines=json_lines)
    code = _run(watch_source(settings(), options, printer))
    raise typer.Exit(code)


@app.command()
def check(
    source: SourceArg,
    condition: Annotated[
        str,
        typer.Argument(
            metavar="CONDITION",
            help='A yes/no question about the picture, e.g. "is the gate open?"',
            show_default=False,
        ),
    ],
    mode: ModeOpt = Mode.FRAMES,
    clip_duration: ClipDurationOpt = 3.0,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print the verdict as one line of JSON, for scripts.")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Check CONDITION once on the newest picture of SOURCE.

    Prints the verdict (YES or NO), the model's confidence and its explanation.
    """
    source = require_text(source, "SOURCE", SOURCE_EXAMPLE)
    condition = require_text(condition, "CONDITION", CONDITION_EXAMPLE)
    _setup_logging(verbose)
    from livesight.pipeline.watch import check_source

    result = _run(check_source(settings(), source, condition, mode.input_mode, clip_duration))
    verdict = result.verdict
    if json_lines:
        json_line(
            {
                "triggered": verdict.match,
                "explanation": verdict.explanation,
                "confidence": verdict.confidence,
                "latency_ms": result.latency_ms,
                "stream_time": result.sample.session_time,
                "capture_time": result.sample.pts_time,
            }
        )
    else:
        answer = "[bold green]YES[/]" if verdict.match else "[bold]NO[/]"
        out.print(f"{answer}  ({verdict.confidence:.0%})  {verdict.explanation}  [dim]{result.latency_ms:.0f} ms[/]")


@app.command()
def validate(
    source: SourceArg,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print the result as one line of JSON, for scripts.")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Tell whether SOURCE is reachable and live.

    Prints whether it is live, its platform, codec, resolution and frame rate.
    """
    source = require_text(source, "SOURCE", SOURCE_EXAMPLE)
    _setup_logging(verbose)
    from livesight.sources.probe import probe

    result = _run(asyncio.to_thread(probe, source, settings()))
    if json_lines:
        json_line(result.as_dict())
        return
    out.print(
        f"{'live' if result.is_live else 'not live'} · {result.platform} · {result.codec} "
        f"{result.width}x{result.height} @ {result.fps or '?'} fps · {result.parsed_url}",
        markup=False,
    )
    if result.title:
        out.print(f"title: {result.title}", markup=False)
    if result.error_hint:
        out.print(result.error_hint, markup=False)


class Judge(enum.StrEnum):
    AUTO = "auto"
    MODEL = "model"
    TEST = "test"


@app.command()
def demo(
    judge: Annotated[
        Judge,
        typer.Option(
            help="Who judges: auto (the configured model, else local CLIP, else the built-in test model), "
            "model (the configured model only) or test (the built-in test model)."
        ),
    ] = Judge.AUTO,
    speed: Annotated[
        float, typer.Option(metavar="FACTOR", help="Play the synthetic stream this many times faster.", min=0.1)
    ] = 1.0,
    interval: Annotated[float, typer.Option(metavar="SECONDS", help="Seconds of video between checks.", min=0.2)] = 1.0,
    json_lines: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Watch a synthetic live stream for a red square.

    The stream is generated and served on 127.0.0.1: a red square shows from 00:20 to 00:28 and from 00:50
    to 00:58. Works offline.
    """
    _setup_logging(verbose)
    from livesight.demo import run_demo

    printer = TriggerPrinter(json_lines=json_lines)
    raise typer.Exit(_run(run_demo(settings(), printer, judge=judge.value, speed=speed, interval=interval)))


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Address to listen on (default: LIVESIGHT_HOST, else 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Port (default: LIVESIGHT_PORT, else 8800).", min=1, max=65535)
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run the HTTP API, the web UI and the engine.

    One process serves live-monitor jobs, sessions, webhooks and SSE; API docs at /docs.
    """
    import uvicorn

    from livesight.logs import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.INFO)

    from livesight.api.app import create_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    config = settings(**overrides)
    _run(_check_serve(config))
    err.print(f"LiveSight {__version__} on http://{config.host}:{config.port}  (API docs: /docs)", markup=False)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level="info" if verbose else "warning",
        timeout_graceful_shutdown=20,
    )


async def _check_serve(settings: Any) -> None:
    from livesight.api.auth import is_loopback
    from livesight.errors import ConfigurationError
    from livesight.store import Store

    store = await Store.open(settings.resolved_database_url())
    try:
        has_keys = bool(await store.list_api_keys())
    finally:
        await store.close()
    if not has_keys and not is_loopback(settings.host):
        raise ConfigurationError(
            f"No API keys exist, so the server may only listen on loopback, not {settings.host}.",
            remediation="Create a key first: livesight keys create --name NAME",
        )
    if not has_keys:
        err.print(
            "development mode: no API keys exist, so the API is open to anyone on this machine "
            "(create one with `livesight keys create` to require keys)",
            markup=False,
        )


app.add_typer(sessions_app, name="sessions")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")


@app.command(hidden=True)
def version() -> None:
    """Print the version (as --version does)."""
    out.print(f"livesight {__version__}", markup=False, highlight=False)


class TriggerPrinter:
    """Prints each event as it happens, under a live status line (stderr) when attached to a terminal."""

    def __init__(self, *, json_lines: bool) -> None:
        self.json_lines = json_lines
        self._status = StatusLine()
        self.printed = 0

    def __enter__(self) -> TriggerPrinter:
        self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._status.__exit__(*exc)

    def status(self, text: str) -> None:
        self._status.update(text)

    def info(self, text: str) -> None:
        target = err if self.json_lines else out
        target.print(plain(text), markup=False, soft_wrap=True)  # e.g. why the source failed, without errno

    def event(self, event: Any, data: dict[str, Any]) -> None:
        self.printed += 1
        if self.json_lines:
            record = asdict(event)
            record.update({k: v for k, v in data.items() if k in ("condition", "explanation", "frame_path", "query")})
            json_line(record)
            return
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        out.print(
            f"[bold red]●[/] [bold]{event.t_start}[/] (stream_time {event.stream_time:.2f}s) "
            f"[bold]{_escape(event.label)}[/] — {_escape(event.description)} "
            f"[dim]confidence {event.confidence:.0%} · {stamp} UTC[/]",
            soft_wrap=True,
        )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# typer vendors click from 0.2x on; its exception classes are reached through a public one, whichever it is.
_UsageError: type[Exception] = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError")
_ClickException: type[Exception] = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException")


def _usage_line(exc: Exception) -> str:
    format_message = getattr(exc, "format_message", None)
    message = plain_usage(str(format_message() if callable(format_message) else exc))
    command = getattr(getattr(exc, "ctx", None), "command_path", "") or "livesight"
    return f"{message.rstrip('.')}. See `{command} --help`."


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``livesight`` console script."""
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="livesight", standalone_mode=False)
    except _UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `livesight jobs` alone: its help, as click prints it
            exc.show()  # type: ignore[attr-defined]
            raise SystemExit(2) from None
        raise SystemExit(fail(_usage_line(exc)).exit_code) from None
    except _ClickException as exc:
        raise SystemExit(fail(exc.format_message()).exit_code) from None  # type: ignore[attr-defined]
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", markup=False)
        raise SystemExit(130) from None
    if code == 130:
        err.print("interrupted", markup=False)
    raise SystemExit(code if isinstance(code, int) else 0)
