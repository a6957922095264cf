"""Reading request bodies: JSON objects with hookrun's limits, and nothing else; and request text fit for a message."""

from __future__ import annotations

import json
from typing import Any

from .errors import BadRequest, ErrorCode

MAX_JSON_DEPTH = 32
_MAX_INT_DIGITS = 400


def media_type_of(content_type: str | None) -> str:
    """The media type of a Content-Type header, lowercase and without parameters; "" if absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    media_type = media_type_of(content_type)
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def printable(text: str) -> str:
    """Text from a payload, cut short and stripped of control characters, fit for a message."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:100])
    return cleaned + ("..." if len(text) > 100 else "")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int | float:
    """An integer; one too long to be any variable's value is infinite, so it is refused as out of range (422)
    rather than breaking the parse (Python refuses to read integers of more than 4300 digits)."""
    if len(text) > _MAX_INT_DIGITS:
        return float("-inf") if text.startswith("-") else float("inf")
    return int(text)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate keys")
    return result


def _depth(text: str) -> int:
    """How deeply brackets nest, outside strings: checked before parsing, so no input can exhaust the stack."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def check_size(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise BadRequest(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {max_bytes} bytes.")


def parse_json(text: bytes | str) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN or Infinity, at most 32 levels deep."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        if _depth(decoded) > MAX_JSON_DEPTH:
            raise ValueError("too deeply nested")
        return json.loads(
            decoded, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant, parse_int=_parse_int
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(ErrorCode.INVALID_JSON) from None


def json_object(
    body: bytes, content_type: str | None, max_bytes: int, expected: str = "a JSON object"
) -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}`. Raises BadRequest for anything else.

    `expected` tells the caller what the body must be when it is JSON but not an object.
    """
    check_size(body, max_bytes)
    if not body.strip():
        return {}
    if not is_json_media_type(content_type):
        raise BadRequest(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    parsed = parse_json(body)
    if not isinstance(parsed, dict):
        raise BadRequest(ErrorCode.INVALID_JSON, f"The request body must be {expected}.")
    return parsed
