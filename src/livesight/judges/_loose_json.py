"""A forgiving JSON reader for what language models write when they *mean* JSON.

Accepts, on top of strict JSON: single-quoted strings, trailing commas, ``True``/``False``/``None``
(Python) and ``yes``/``no`` literals, unquoted identifier keys, bare-word string values, ``//`` and
``/* */`` comments, raw newlines inside strings, ``NaN``/``Infinity``, and numbers with a percent sign or
unit (``85%`` and ``3.5s`` read as the strings ``"85%"`` and ``"3.5s"``, for the caller to interpret).
Everything else raises :class:`LooseJSONError`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["LooseJSONError", "loads_loose"]

_MAX_DEPTH = 64
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_$][\w$-]*")
_UNIT = re.compile(r"[A-Za-z]+")
_LITERALS: dict[str, Any] = {
    "true": True,
    "True": True,
    "TRUE": True,
    "yes": True,
    "Yes": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "no": False,
    "No": False,
    "null": None,
    "None": None,
    "NULL": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class LooseJSONError(ValueError):
    """The text is not even loosely JSON."""


def loads_loose(text: str) -> Any:
    """Parse ``text`` as loose JSON; the whole text (bar whitespace and comments) must be one value."""
    reader = _Reader(text)
    value = reader.value(0)
    reader.skip_space()
    if reader.pos != len(text):
        raise LooseJSONError(f"unexpected text at {reader.pos}")
    return value


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> LooseJSONError:
        return LooseJSONError(f"{what} at {self.pos}")

    def skip_space(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch.isspace():
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("unterminated comment")
                self.pos = end + 2
            else:
                return

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail("nesting too deep")
        ch = self.peek()
        if ch == "{":
            return self.obj(depth + 1)
        if ch == "[":
            return self.array(depth + 1)
        if ch in ("'", '"'):
            return self.string()
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            if self.text.startswith("%", self.pos):
                self.pos += 1
                return number.group() + "%"
            unit = _UNIT.match(self.text, self.pos)
            if unit:  # "3.5s", "12sec": keep as a string for the caller's unit-aware reading
                self.pos = unit.end()
                return number.group() + unit.group()
            literal = number.group()
            try:
                if any(c in literal for c in ".eE"):
                    return float(literal)
                return int(literal)
            except ValueError as exc:  # e.g. more digits than int() accepts
                raise self.fail("bad number") from exc
        ident = _IDENT.match(self.text, self.pos)
        if ident:
            self.pos = ident.end()
            word = ident.group()
            return _LITERALS[word] if word in _LITERALS else word
        raise self.fail("expected a value")

    def obj(self, depth: int) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        while True:
            ch = self.peek()
            if ch == "}":
                self.pos += 1
                return result
            if ch in ("'", '"'):
                key = self.string()
            else:
                ident = _IDENT.match(self.text, self.pos)
                if not ident:
                    raise self.fail("expected a key")
                self.pos = ident.end()
                key = ident.group()
            if self.peek() not in (":", "="):
                raise self.fail("expected ':'")
            self.pos += 1
            result[key] = self.value(depth)
            ch = self.peek()
            if ch == ",":
                self.pos += 1
            elif ch != "}":
                raise self.fail("expected ',' or '}'")

    def array(self, depth: int) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        while True:
            ch = self.peek()
            if ch == "]":
                self.pos += 1
                return result
            result.append(self.value(depth))
            ch = self.peek()
            if ch == ",":
                self.pos += 1
            elif ch != "]":
                raise self.fail("expected ',' or ']'")

    def string(self) -> str:
        text, n = self.text, len(self.text)
        quote = text[self.pos]
        self.pos += 1
        parts: list[str] = []
        while self.pos < n:
            ch = text[self.pos]
            if ch == quote:
                self.pos += 1
                return "".join(parts)
            if ch == "\\":
                if self.pos + 1 >= n:
                    break
                esc = text[self.pos + 1]
                if esc == "u":
                    digits = text[self.pos + 2 : self.pos + 6]
                    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                        raise self.fail("bad \\u escape")
                    parts.append(chr(int(digits, 16)))
                    self.pos += 6
                    continue
                # Unknown escapes keep the character: models write "\_" or "\'" freely.
                parts.append(_ESCAPES.get(esc, esc))
                self.pos += 2
                continue
            parts.append(ch)
            self.pos += 1
        raise self.fail("unterminated string")
