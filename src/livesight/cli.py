"""The ``livesight`` command: watch, check, validate, demo."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from livesight import __version__
from livesight.cli_remote import jobs_app, sessions_app
from livesight.errors import LiveSightError
from livesight.settings import load_settings

app = typer.Typer(
    name="livesight",
    help="Watch live video with natural-language conditions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain usage errors: one "Error:" line, no boxes
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit code 2."""


def fail(message: str, remediation: str = "", code: int = 2) -> typer.Exit:
    line = f"livesight: error: {message}"
    if remediation:
        line += f" {remediation}"
    err.print(line, markup=False, soft_wrap=True)
    return typer.Exit(code)


def _setup_logging(verbose: bool) -> None:
    from livesight.logs import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.WARNING)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except LiveSightError as exc:
        raise fail(exc.message, exc.remediation) from None


VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens (to stderr).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per line for scripts.")]
ModeOpt = Annotated[str, typer.Option("--mode", help="What each check sees: frames, clip or hybrid.")]


def _mode(value: str) -> Literal["frames", "clip", "hybrid"]:
    if value not in ("frames", "clip", "hybrid"):
        raise fail(f"--mode must be frames, clip or hybrid, not {value!r}.")
    return value  # type: ignore[return-value]


@app.command()
def watch(
    source: Annotated[str, typer.Argument(help="HLS .m3u8 URL, rtsp(s):// URL, YouTube/Twitch live page or file.")],
    condition: Annotated[str, typer.Argument(help='What to watch for, e.g. "is there a red square?"')],
    interval: Annotated[float, typer.Option(help="Seconds of video between checks.", min=0.2)] = 2.0,
    mode: ModeOpt = "frames",
    clip_duration: Annotated[float, typer.Option(help="Seconds a clip covers (clip, hybrid).", min=1, max=10)] = 3.0,
    every: Annotated[
        bool, typer.Option("--every", help="Report every positive check, not once per appearance.")
    ] = False,
    cooldown: Annotated[float, typer.Option(help="Minimum seconds between reports.", min=0)] = 0.0,
    max_triggers: Annotated[int | None, typer.Option(help="Stop after this many reports.", min=1)] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=1)] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="HLS: start at the first listed segment.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Files: analyse as fast as possible, not in real time.")] = False,
    chunk_seconds: Annotated[float, typer.Option(help="Length of recorded chunks.", min=1)] = 10.0,
    no_prefilter: Annotated[
        bool, typer.Option("--no-prefilter", help="Ask the model at every check, even when nothing changed.")
    ] = False,
    json_lines: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Watch SOURCE and report each time CONDITION becomes true."""
    _setup_logging(verbose)
    from livesight.pipeline.watch import WatchOptions, watch_source
    from livesight.rules import TriggerRule

    options = WatchOptions(
        source=source,
        condition=condition,
        interval=interval,
        mode=_mode(mode),
        clip_duration=clip_duration,
        rule=TriggerRule(cooldown_seconds=cooldown, max_triggers=max_triggers, once_per_appearance=not every),
        duration=duration,
        start_at="first" if from_start else "live_edge",
        realtime=not fast,
        chunk_seconds=chunk_seconds,
        prefilter=not no_prefilter,
    )
    printer = TriggerPrinter(json_lines=json_lines)
    code = _run(watch_source(load_settings(), options, printer))
    raise typer.Exit(code)


@app.command()
def check(
    source: Annotated[str, typer.Argument(help="Source URL or file.")],
    condition: Annotated[str, typer.Argument(help="A yes/no question about the picture.")],
    mode: ModeOpt = "frames",
    clip_duration: Annotated[float, typer.Option(min=1, max=10)] = 3.0,
    json_lines: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Check CONDITION once on the newest picture of SOURCE and print the verdict."""
    _setup_logging(verbose)
    from livesight.pipeline.watch import check_source

    result = _run(check_source(load_settings(), source, condition, _mode(mode), clip_duration))
    verdict = result.verdict
    if json_lines:
        out.print_json(
            data={
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
    source: Annotated[str, typer.Argument(help="Source URL or file.")],
    json_lines: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Tell whether SOURCE is reachable and live, with its codec, resolution and frame rate."""
    _setup_logging(verbose)
    from livesight.sources.probe import probe

    result = _run(asyncio.to_thread(probe, source, load_settings()))
    if json_lines:
        out.print_json(data=result.as_dict())
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


@app.command()
def demo(
    judge: Annotated[
        str, typer.Option(help="auto: the configured model, else the built-in test model; model; test.")
    ] = "auto",
    speed: Annotated[float, typer.Option(help="Play the synthetic stream this many times faster.", min=0.1)] = 1.0,
    interval: Annotated[float, typer.Option(min=0.2)] = 1.0,
    json_lines: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Start a synthetic live stream on 127.0.0.1 and watch it for a red square."""
    _setup_logging(verbose)
    from livesight.demo import run_demo

    if judge not in ("auto", "model", "test"):
        raise fail(f"--judge must be auto, model or test, not {judge!r}.")
    printer = TriggerPrinter(json_lines=json_lines)
    raise typer.Exit(_run(run_demo(load_settings(), printer, judge=judge, speed=speed, interval=interval)))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8800).", min=1, max=65535)] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run the HTTP API (live-monitor jobs, sessions, webhooks, SSE) and the engine in one process."""
    import uvicorn

    from livesight.logs import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.INFO)

    from livesight.api.app import create_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(**overrides)
    _run(_check_serve(settings))
    err.print(f"LiveSight {__version__} on http://{settings.host}:{settings.port}  (API docs: /docs)", markup=False)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
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

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="A label for the key.")] = "default") -> None:
    """Create an API key; its token is printed once and never stored."""
    from livesight.store import Store

    async def create() -> tuple[Any, str, str]:
        store = await Store.open(load_settings().resolved_database_url())
        try:
            record, token = await store.create_api_key(name)
            return record, token, await store.get_webhook_secret(record.id)
        finally:
            await store.close()

    record, token, secret = _run(create())
    out.print(f"key id:          {record.id}", markup=False)
    out.print(f"token:           {token}", markup=False)
    out.print(f"webhook secret:  {secret}", markup=False)
    err.print("Keep the token now: it is stored only as a hash and cannot be shown again.", markup=False)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their tokens)."""
    from livesight.store import Store

    async def fetch() -> list[Any]:
        store = await Store.open(load_settings().resolved_database_url())
        try:
            return list(await store.list_api_keys())
        finally:
            await store.close()

    for key in _run(fetch()):
        state = "revoked" if key.revoked_at else "active"
        out.print(
            f"{key.id}  {key.token_prefix}…  {key.name}  {state}  created {key.created_at:%Y-%m-%d}", markup=False
        )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (key_…).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from livesight.store import Store

    async def revoke() -> None:
        store = await Store.open(load_settings().resolved_database_url())
        try:
            await store.revoke_api_key(key_id)
        finally:
            await store.close()

    _run(revoke())
    out.print(f"revoked {key_id}", markup=False)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


class TriggerPrinter:
    """Prints each event as it happens, under a live status line (stderr) when attached to a terminal."""

    def __init__(self, *, json_lines: bool) -> None:
        self.json_lines = json_lines
        self._live: Live | None = None
        self.printed = 0

    def __enter__(self) -> TriggerPrinter:
        if err.is_terminal:
            self._live = Live(Text(""), console=err, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def status(self, text: str) -> None:
        if self._live is not None:
            self._live.update(Text(text, style="dim"))

    def info(self, text: str) -> None:
        target = err if self.json_lines else out
        target.print(text, markup=False, soft_wrap=True)

    def event(self, event: Any, data: dict[str, Any]) -> None:
        self.printed += 1
        if self.json_lines:
            record = asdict(event)
            record.update({k: v for k, v in data.items() if k in ("condition", "explanation", "frame_path", "query")})
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``livesight`` console script."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="livesight")
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
