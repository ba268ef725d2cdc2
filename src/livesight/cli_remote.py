"""What the commands that talk to a LiveSight server share: the SDK client, its errors as one line, options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from livesight.cli_common import (
    fail,
    out,
    plain_field_message,
    terminal_width,
)
from livesight.cli_table import Column, render

if TYPE_CHECKING:
    from livesight.sdk import LiveSight
    from livesight.sdk.errors import APIConnectionError, UnprocessableEntityError
    from livesight.sdk.types import FieldError

BaseURLOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url", metavar="URL", help="Server URL (default: LIVESIGHT_BASE_URL, else http://127.0.0.1:8800)."
    ),
]
KeyOpt = Annotated[str | None, typer.Option("--api-key", metavar="TOKEN", help="API key (default: LIVESIGHT_API_KEY).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the record as one line of JSON, for scripts.")]
JsonLinesOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per line (JSON Lines), for scripts.")]
StreamIdArg = Annotated[str, typer.Argument(metavar="STREAM_ID", help="The session's stream (str_…).")]
SessionIdArg = Annotated[str, typer.Argument(metavar="SESSION_ID", help="The session (ses_…).")]
JobIdArg = Annotated[
    str, typer.Argument(metavar="JOB_ID", help="The job's id, as `jobs create` and `jobs list` print it.")
]

# The API's field names as this CLI spells them, so that a 422 names the option to fix.
_OPTION_OF_FIELD = {
    "stream_url": "STREAM_URL",
    "source_url": "SOURCE_URL",
    "condition": "CONDITION",
    "webhook_url": "--webhook-url",
    "interval_seconds": "--interval",
    "input_mode": "--mode",
    "clip_duration_seconds": "--clip-duration",
    "monitor_duration_seconds": "--duration",
    "trigger_cooldown_seconds": "--cooldown",
    "max_triggers": "--max-triggers",
    "name": "--name",
    "rapid_review_query": "--query",
    "stream_id": "--stream-id",
    "limit": "--limit",
    "offset": "--offset",
    "status": "--status",
    "type": "--type",
    "scope": "--scope",
}


def _invalid_fields(fields: list[FieldError]) -> str:
    return "; ".join(f"{_OPTION_OF_FIELD.get(f.field, f.field)} {plain_field_message(f.message)}" for f in fields) + "."


def _unprocessable(exc: UnprocessableEntityError) -> typer.Exit:
    if exc.fields:
        return fail(_invalid_fields(exc.fields))
    return fail(exc.message, exc.remediation)


def _unreachable(exc: APIConnectionError, timed_out: bool) -> typer.Exit:
    request = exc.request
    where = f" at {request.url.scheme}://{request.url.netloc.decode()}" if request is not None else ""
    if timed_out:
        return fail(f"the LiveSight server{where} did not answer in time.", "Check that it is running and reachable.")
    if "dropped" in exc.message:  # an event stream that kept failing after it had started
        return fail(exc.message)
    return fail(
        f"cannot reach the LiveSight server{where}.",
        "Start it with `livesight serve`, or point --base-url (LIVESIGHT_BASE_URL) at it.",
    )


@contextmanager
def client(base_url: str | None, api_key: str | None) -> Iterator[LiveSight]:
    """An SDK client whose errors become one line on stderr and exit code 2 (1 for server errors)."""
    from livesight.sdk import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        LiveSight,
        LiveSightAPIError,
        UnprocessableEntityError,
    )

    try:
        with LiveSight(base_url=base_url, api_key=api_key) as sdk:
            yield sdk
    except UnprocessableEntityError as exc:
        raise _unprocessable(exc) from None
    except APIStatusError as exc:
        raise fail(exc.message, exc.remediation, code=1 if exc.status_code >= 500 else 2) from None
    except APIConnectionError as exc:
        raise _unreachable(exc, isinstance(exc, APITimeoutError)) from None
    except LiveSightAPIError as exc:
        raise fail(exc.message) from None


def dump(model: Any) -> Any:
    return model.model_dump(mode="json") if hasattr(model, "model_dump") else model


def print_table(columns: list[Column], rows: list[list[str]]) -> None:
    for line in render(columns, rows, terminal_width()):
        out.print(line, markup=False, soft_wrap=True, highlight=False)
