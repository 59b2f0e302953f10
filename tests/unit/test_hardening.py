"""The pure parts of the services' edge: JSON depth without decoding, token buckets, the
client address behind trusted proxies, and which errors mean a database outage."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import psycopg
import psycopg_pool
import pytest
from eventsourcing.persistence import InterfaceError, OperationalError

from shared.errors import BadRequest
from shared.hardening import (
    TokenBucket,
    came_over_tls,
    check_json_depth,
    client_address,
    database_outage,
    json_depth,
)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": 2}]}', 3),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets in strings do not count
        (b'{"a": "\\"[[[[", "b": [[]]}', 3),  # nor after an escaped quote
        (b'["\\\\", [[]]]', 3),  # an escaped backslash ends before the quote
        ("[[\u00e9]]", 2),
        (b"[" * 100_000 + b"]" * 100_000, 100_000),
        (b'"unterminated [[[[', 0),
    ],
)
def test_json_depth_is_measured_without_decoding(text: bytes | str, depth: int) -> None:
    assert json_depth(text) == depth


def test_json_depth_is_linear_even_on_hostile_input() -> None:
    hostile = [b'"' + b'\\"' * 500_000, b"[" * 1_000_000, b'[{"a":"b"},' * 90_000 + b"1]"]
    for text in hostile:
        started = time.perf_counter()
        json_depth(text)
        assert time.perf_counter() - started < 0.5


def test_check_json_depth_refuses_one_level_beyond_the_limit() -> None:
    check_json_depth(b"[" * 32 + b"]" * 32, 32)
    with pytest.raises(BadRequest) as caught:
        check_json_depth(b"[" * 33 + b"]" * 33, 32)
    assert caught.value.code == "json_too_deep" and caught.value.extra["max_depth"] == 32


def test_a_token_bucket_allows_a_minutes_worth_then_refills_over_time() -> None:
    now = [0.0]
    bucket = TokenBucket(60, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(60)] == [0.0] * 60
    assert bucket.take("a") == pytest.approx(1.0)  # one request a second refills
    assert bucket.take("b") == 0.0  # another key has its own bucket
    now[0] += 2.0
    assert bucket.take("a") == 0.0


def test_a_token_bucket_forgets_the_least_recently_seen_keys_beyond_its_bound() -> None:
    bucket = TokenBucket(1, max_keys=3, clock=lambda: 0.0)
    for key in "abcd":
        bucket.take(key)
    assert bucket.take("a") == 0.0  # forgotten: a full bucket again
    assert bucket.take("d") > 0  # remembered: still empty
    assert len(bucket._buckets) == 3


TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


def scope(peer: str, *headers: tuple[bytes, bytes], scheme: str = "http") -> dict:
    return {"type": "http", "scheme": scheme, "client": (peer, 5000), "headers": list(headers)}


@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        ("203.0.113.9", b"198.51.100.1", "203.0.113.9"),  # not a proxy: its header is ignored
        ("10.0.0.2", b"198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", b"6.6.6.6, 198.51.100.1, 10.0.0.7", "198.51.100.1"),  # right-most untrusted hop
        ("10.0.0.2", None, "10.0.0.2"),
        ("::1", b"2001:db8::5", "2001:db8::5"),
        ("testclient", b"198.51.100.1", "testclient"),
    ],
)
def test_the_client_address_believes_x_forwarded_for_only_from_trusted_proxies(peer, forwarded, address) -> None:
    headers = [(b"x-forwarded-for", forwarded)] if forwarded else []
    assert client_address(scope(peer, *headers), TRUSTED) == address


def test_tls_is_seen_from_the_scheme_or_a_trusted_proxys_x_forwarded_proto() -> None:
    assert came_over_tls(scope("203.0.113.9", scheme="https"), [])
    assert came_over_tls(scope("10.0.0.2", (b"x-forwarded-proto", b"https")), TRUSTED)
    assert not came_over_tls(scope("203.0.113.9", (b"x-forwarded-proto", b"https")), TRUSTED)
    assert not came_over_tls(scope("10.0.0.2", (b"x-forwarded-proto", b"http")), TRUSTED)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("connection failed"),
        psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec"),
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
    ],
)
def test_database_outages_are_recognised_directly_and_as_a_cause(error: Exception) -> None:
    assert database_outage(error) is error
    try:
        try:
            raise error
        except Exception as exc:
            raise RuntimeError("wrapped by a library") from exc
    except RuntimeError as wrapped:
        assert database_outage(wrapped) is error


def test_other_errors_are_no_outage() -> None:
    assert database_outage(psycopg.errors.UniqueViolation("duplicate")) is None
    assert database_outage(ValueError("x")) is None
    # An OperationalError to psycopg, but a value too large for an index row fails every time.
    assert database_outage(psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum")) is None


# -- GraphQL: what reaches the client ----------------------------------------------------------


def _schema() -> Any:
    import strawberry

    from shared.errors import Conflict
    from shared.graphql import ServiceSchema, limit_extensions
    from shared.settings import Settings

    @strawberry.type
    class Query:
        @strawberry.field
        def ours(self) -> str:
            raise Conflict("Sudah diubah orang lain.", code="version_conflict")

        @strawberry.field
        def library(self) -> str:
            raise RuntimeError('duplicate key value violates unique constraint "secret_idx"')

        @strawberry.field
        def outage(self) -> str:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        @strawberry.field
        def deep(self) -> str:
            raise RecursionError("maximum recursion depth exceeded")

        @strawberry.field
        def fine(self) -> str:
            return "ok"

    return ServiceSchema(query=Query, extensions=limit_extensions(Settings()))


@pytest.mark.parametrize(
    ("field", "message", "code"),
    [
        ("ours", "Sudah diubah orang lain.", "version_conflict"),
        ("library", "Terjadi kesalahan pada server; kejadian ini sudah dicatat.", "internal_error"),
        ("outage", "Basis data sedang tidak dapat dihubungi; coba lagi sebentar lagi.", "database_unavailable"),
        ("deep", "Masukan bersarang terlalu dalam untuk diproses.", "too_deep"),
    ],
)
def test_graphql_errors_keep_our_messages_and_mask_every_other(field: str, message: str, code: str) -> None:
    result = _schema().execute_sync(f"{{ {field} }}")
    (error,) = result.errors
    assert error.message == message
    assert error.extensions["code"] == code


def test_graphql_runs_only_the_named_operation_of_several() -> None:
    schema = _schema()
    refused = schema.execute_sync("query A { fine } query B { fine }")
    assert refused.data is None and refused.errors[0].extensions["code"] == "operation_name_required"
    assert schema.execute_sync("query A { fine } query B { fine }", operation_name="B").data == {"fine": "ok"}
    assert schema.execute_sync("query A { fine }").data == {"fine": "ok"}
