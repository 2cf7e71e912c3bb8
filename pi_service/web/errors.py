"""Malformed input is a 4xx with a short answer that always serialises, and is never logged.

Python's json module accepts what JSON does not: `NaN`, `Infinity`, `-Infinity`, numbers
out of a float's range (`1e400` becomes inf) and lone surrogates (`"\\ud800"`). FastAPI's
validation error echoes the input it refused, and an inf or a lone surrogate in that echo
cannot be encoded: a 500, with the whole body in the traceback. So:

- `StrictJsonRoute` parses request bodies as strict JSON (RFC 8259 numbers within a
  float's range, valid Unicode strings, nesting at most `MAX_DEPTH`): anything else is a
  422 `json_invalid` saying what was wrong, where.
- `validation_error` answers every validation error with its type, location and message,
  and at most an 80-character ASCII `repr` of the input: serialisable whatever came in.
"""

from __future__ import annotations

import json
import math
import reprlib

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

MAX_DEPTH = 32  # the controls take flat objects
ECHO_CHARS = 80
MESSAGE_CHARS = 200
_FLOAT_DIGITS = 309  # an integer with more digits than this is beyond a float's range

_echo = reprlib.Repr()
_echo.maxstring = _echo.maxother = ECHO_CHARS
_echo.maxlevel = 3


class _Refused(ValueError):
    """A JSON token strict parsing refuses (NaN, Infinity, a number out of float's range)."""


def _no_constant(name: str):
    raise _Refused(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text[:20]} is out of range")
    return value


def _ranged_int(text: str) -> int:
    if len(text.lstrip("-")) > _FLOAT_DIGITS:
        raise _Refused("an integer out of range")
    return int(text)


def _check_tree(value) -> None:
    """Nesting within MAX_DEPTH, and every string (keys too) valid Unicode."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH}")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _Refused("a string with a lone surrogate (not Unicode)") from None


def strict_json(body: bytes):
    """The JSON value in `body`, or json.JSONDecodeError naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("not UTF-8", body.decode("utf-8", "replace"), exc.start) from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_ranged_int)
        _check_tree(value)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH}", text, 0) from None
    except ValueError as exc:  # _Refused, and int()'s own digit limit
        raise json.JSONDecodeError(str(exc)[:MESSAGE_CHARS], text, 0) from None
    return value


class StrictJsonRequest(Request):
    async def json(self):
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """FastAPI's way to change how a route reads its request (a custom route class)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict_handler(request: Request):
            return await handler(StrictJsonRequest(request.scope, request.receive))
        return strict_handler


def _ascii(text: str, limit: int) -> str:
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _error(error: dict) -> dict:
    shown = {"type": _ascii(str(error.get("type", "")), MESSAGE_CHARS),
             "loc": [part if isinstance(part, int) else _ascii(str(part), ECHO_CHARS) for part in error.get("loc", ())],
             "msg": _ascii(str(error.get("msg", "")), MESSAGE_CHARS)}
    if "input" in error:
        shown["input"] = _ascii(_echo.repr(error["input"]), ECHO_CHARS)
    if error.get("type") == "json_invalid" and isinstance(error.get("ctx"), dict):
        shown["msg"] = _ascii(f"JSON decode error: {error['ctx'].get('error', '')}", MESSAGE_CHARS)
    return shown


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": [_error(error) for error in exc.errors()]}, status_code=422)
