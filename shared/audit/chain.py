"""The hash chain over an aggregate's events: what is hashed, and how it is checked.

Pure (standard library only): the offline verifier (`ksd audit verify`) imports it with no
database and no network.

Each event is hashed as a *record*, the canonical JSON of

    {"originator", "version", "type", "topic", "recorded_at", "actor", "data", "state_sha256"}

where `topic` is the stored event class, `type` its short name, `recorded_at` the event's
timestamp as stored, `actor` who acted, `data` every other stored attribute (with
`class_version`, so a record is read with the schema it was written in), and
`state_sha256` the SHA-256 of the stored bytes themselves, so that no byte of the stored
event escapes the hash (key order and encoding included), not only its meaning. Canonical JSON:
keys sorted, no insignificant whitespace, UTF-8, which is RFC 8785 for the values events
hold (strings, integers, booleans, null, arrays, objects).

    hash(v) = SHA-256( bytes(prev_hash) || canonical(record v) ),  prev_hash(1) = 64 zeros

So a record cannot change without its hash changing, and a hash cannot change without
every later hash changing: an auditor who trusts one head hash (a signed digest holds
them) can trust every version before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

# The attributes of a stored event state that become the record's own fields.
_TIMESTAMP = "timestamp"
_ACTOR = "actor"


class RecordError(ValueError):
    """A stored event that cannot be read as a record (corrupt bytes, missing fields)."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_type(topic: str) -> str:
    """`services.registry.domain.agreement:Agreement.PksSigned` -> `PksSigned`."""
    return topic.rpartition(":")[2].rpartition(".")[2]


def record_of(originator: str, version: int, topic: str, state: bytes, *, strict: bool = True) -> dict[str, Any]:
    """The hashed record of one stored event (as eventsourcing's JSON transcoder wrote it).

    Raises RecordError when the bytes are not that JSON, or not byte for byte the way the
    transcoder writes it: an edit that keeps the meaning (a space, an escape) is still an
    edit of the stored event. `strict=False` skips that check (for bytes just encoded)."""
    try:
        text = state.decode("utf-8")
        stored = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"stored state is not JSON: {exc}") from None
    if not isinstance(stored, dict):
        raise RecordError("stored state is not a JSON object")
    if strict and json.dumps(stored, separators=(",", ":"), ensure_ascii=False) != text:
        raise RecordError("stored state is not in its recorded encoding")
    stamp = stored.pop(_TIMESTAMP, None)
    if isinstance(stamp, dict) and stamp.get("_type_") == "datetime_iso" and set(stamp) == {"_type_", "_data_"}:
        stamp = stamp["_data_"]  # eventsourcing's DatetimeAsISO: nothing else is dropped
    if not isinstance(stamp, str):
        raise RecordError("stored state has no timestamp")
    return {
        "originator": str(originator),
        "version": int(version),
        "type": event_type(topic),
        "topic": topic,
        "recorded_at": stamp,
        "actor": stored.pop(_ACTOR, None),
        "data": stored,
        "state_sha256": hashlib.sha256(state).hexdigest(),
    }


def chain_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    try:
        prev = bytes.fromhex(prev_hash)
    except (TypeError, ValueError):
        raise RecordError(f"prev_hash is not hex: {prev_hash!r}") from None
    if len(prev) != 32:
        raise RecordError("prev_hash is not 32 bytes")
    return hashlib.sha256(prev + canonical_json(record)).hexdigest()


# Why a chain is broken: a code, and what it means in Bahasa Indonesia and English.
REASONS: dict[str, tuple[str, str]] = {
    "missing": ("peristiwa versi ini hilang (dihapus)", "the event of this version is missing (deleted)"),
    "out_of_order": ("urutan peristiwa tidak runtut", "events are out of order"),
    "unreadable": ("isi peristiwa yang tersimpan rusak atau diubah", "the stored event is corrupt or was edited"),
    "broken_link": (
        "prev_hash tidak menunjuk ke peristiwa sebelumnya", "prev_hash does not link to the previous event"
    ),
    "content_changed": ("isi peristiwa tidak cocok dengan hash-nya", "the event's content does not match its hash"),
}


@dataclass(frozen=True)
class ChainCheck:
    """The verdict on one aggregate's chain; `reason` is a key of REASONS."""

    valid: bool
    events: int
    head_hash: str | None
    first_invalid_version: int | None = None
    reason: str | None = None
    detail: str | None = None


def check_chain(entries: Iterable[Mapping[str, Any]]) -> ChainCheck:
    """Check entries in storage order: versions 1, 2, 3 … with no gap, each `prev_hash`
    the hash before it, each `hash` recomputed from its record.

    An entry is `{"version", "record" | "error", "prev_hash", "hash"}`; "error" stands for
    a stored event that could not be read as a record. The first bad version is named."""
    prev = GENESIS
    count = 0

    def broken(version: int, reason: str, detail: str | None = None) -> ChainCheck:
        return ChainCheck(False, count, prev if count else None, version, reason, detail)

    for expected, entry in enumerate(entries, start=1):
        version = entry.get("version")
        if version != expected:
            later = isinstance(version, int) and not isinstance(version, bool) and version > expected
            return broken(expected, "missing" if later else "out_of_order", f"found version {version!r}")
        if entry.get("error"):
            return broken(expected, str(entry.get("reason") or "unreadable"), str(entry["error"]))
        if entry.get("prev_hash") != prev:
            return broken(expected, "broken_link")
        try:
            computed = chain_hash(prev, entry["record"])
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            return broken(expected, "unreadable", str(exc))
        if entry.get("hash") != computed:
            return broken(expected, "content_changed")
        prev = computed
        count += 1
    return ChainCheck(True, count, prev if count else None)
