"""What every ``livesight`` command shares: its consoles, choices, and how a mistake is worded.

A mistake the user can fix is one line on stderr, ``livesight: error: …``, and exit code 2. Messages
from deeper down are made plain here, at the last moment, so that no CLI user reads FFmpeg's errno text
or pydantic's phrasing.
"""

from __future__ import annotations

import enum
import json
import re
import shutil
import sys
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.console import Console

if TYPE_CHECKING:
    from livesight.settings import Settings

# soft_wrap: a long line is left to the terminal, never broken by rich at 80 columns when piped.
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

#: Help uses the terminal's width (click reads COLUMNS, then the terminal) up to 120 columns.
CONTEXT_SETTINGS: dict[str, Any] = {"max_content_width": 120, "help_option_names": ["-h", "--help"]}

InputMode = Literal["frames", "clip", "hybrid"]


class Mode(enum.StrEnum):
    """What each check sends to the model."""

    FRAMES = "frames"
    CLIP = "clip"
    HYBRID = "hybrid"

    @property
    def input_mode(self) -> InputMode:
        return self.value


MODE_HELP = "What each check sees: frames (the newest frame), clip (frames over --clip-duration) or hybrid (both)."


def fail(message: str, remediation: str = "", code: int = 2) -> typer.Exit:
    """Print ``livesight: error: <message> <remediation>`` as one line; raise what this returns."""
    line = f"livesight: error: {plain(message)}"
    if remediation:
        line += f"{'' if line.endswith(('.', '!', '?', ':')) else '.'} {plain(remediation)}"
    err.print(line, markup=False, soft_wrap=True, highlight=False)
    return typer.Exit(code)


def require_text(value: str, name: str, what: str) -> str:
    """``value`` without surrounding blanks; a blank one fails with one line (``what``: what it should say)."""
    if not value.strip():
        raise fail(f"{name} is {'empty' if not value else 'blank'}: {what}")
    return value.strip()


def terminal_width() -> int:
    """Columns to lay output out in: COLUMNS, else the terminal's, else 80."""
    return shutil.get_terminal_size().columns


def json_line(data: Any) -> None:
    """One JSON object on one line of stdout (JSON Lines), flushed so that a pipe sees it at once."""
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def settings(**overrides: object) -> Settings:
    """The settings, or one line naming the environment variable that is not valid."""
    from pydantic import ValidationError

    from livesight.settings import load_settings

    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ())]
            name = f"LIVESIGHT_{loc[0].upper()}" if loc else "the settings"
            problems.append(f"{name} {plain_field_message(str(error.get('msg', 'is not valid')))}")
        raise fail("; ".join(problems) + ".", "Fix it in the environment (or unset it to use the default).") from None


# -- plain wording ---------------------------------------------------------------------------------

# "(InvalidDataError: [Errno 1094995529] Invalid data found when processing input: '/x.mp4')": the
# sentence around it already says what went wrong; the errno and the repeated URL add nothing a user can act on.
_ERRNO_IN_PARENS = re.compile(r"\s*\((?:[A-Za-z]+: )?\[Errno -?\d+\][^()]*\)")
# "...failed: [Errno 5] Input/output error: '/x.mp4'" keeps the words, without the errno or the URL again.
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*([^:'()]*?)(?::\s*'[^']*')?(?=$|[.;)])")


def plain(message: str) -> str:
    """``message`` without errno numbers and the FFmpeg detail that comes with them."""
    text = _ERRNO_IN_PARENS.sub("", message)
    return _ERRNO.sub(lambda m: m.group(1).strip(), text).strip()


_FIELD_WORDING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^Value error, (.+)$", r"\1"),
        (r"^String should have at least 1 character$", "must not be empty"),
        (r"^String should have at least (\d+) characters$", r"must be at least \1 characters long"),
        (r"^String should have at most (\d+) characters?$", r"must be at most \1 characters long"),
        (r"^Input should be greater than or equal to (.+)$", r"must be at least \1"),
        (r"^Input should be greater than (.+)$", r"must be more than \1"),
        (r"^Input should be less than or equal to (.+)$", r"must be at most \1"),
        (r"^Input should be less than (.+)$", r"must be less than \1"),
        (r"^Input should be a valid number.*$", "must be a number"),
        (r"^Input should be a valid integer.*$", "must be a whole number"),
        (r"^Input should be a valid boolean.*$", "must be true or false"),
        (r"^Input should be (.+)$", r"must be \1"),
        (r"^Field required$", "is required"),
    )
)


def plain_field_message(message: str) -> str:
    """pydantic's wording of a field error ("Input should be greater than or equal to 5") as a CLI says it."""
    for pattern, replacement in _FIELD_WORDING:
        if pattern.match(message):
            message = pattern.sub(replacement, message)
            if not pattern.pattern.startswith("^Value error"):
                break
    return message


_INVALID_VALUE = re.compile(r"^Invalid value for '?\{?([^':}]+)\}?'?: (.*)$", re.DOTALL)
_NOT_ONE_OF = re.compile(r"^(.*) is not one of (.*?)\.?$")


def plain_usage(message: str) -> str:
    """A command-line parsing error as one sentence: "--interval must be at least 0.2", "--mode must be one of
    frames, clip, hybrid, not 'bogus'"."""
    message = message.replace("Value error, ", "").strip()
    match = _INVALID_VALUE.match(message)
    if match is None:
        return re.sub(r"'\{?([A-Z_]+)\}?'", r"\1", message)  # "Missing argument '{SOURCE}'": the bare name
    name, problem = match.groups()
    choices = _NOT_ONE_OF.match(problem)
    if choices is not None:
        given, allowed = choices.groups()
        return f"{name} must be one of {allowed.replace(chr(39), '')}, not {given}"
    problem = plain_field_message(problem.rstrip("."))
    return f"{name} {problem}" if problem.startswith(("must", "is ")) else f"{name}: {problem}"
