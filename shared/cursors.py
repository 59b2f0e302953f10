"""The opaque paging cursor every list of the platform hands out (REST `cursor`, GraphQL
`after`/`before`): the position of the last row a client saw, in URL-safe base64."""

from __future__ import annotations

import base64

import msgspec

from shared.errors import BadRequest


def encode_cursor(position: int) -> str:
    """Opaque to clients: the creation position of the last row they saw."""
    return base64.urlsafe_b64encode(msgspec.json.encode({"p": position})).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=dict[str, int])["p"]
    except (ValueError, KeyError, msgspec.DecodeError):
        raise BadRequest("Parameter cursor tidak valid.", code="invalid_cursor") from None
