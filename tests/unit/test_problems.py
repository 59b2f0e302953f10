"""Errors become RFC 9457 problem details that name the offending field."""

import msgspec
import pytest

from shared.errors import KsdError
from shared.http import msgspec_field_error, problem


class Party(msgspec.Struct, forbid_unknown_fields=True):
    region: str


class Body(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    parties: list[Party]


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (b'{"title": 1, "parties": []}', "title", "harus berupa teks, bukan bilangan bulat"),
        (b'{"title": "x", "parties": [], "colour": 1}', "colour", "kolom tidak dikenal"),
        (b'{"parties": []}', "title", "wajib diisi"),
        (b'{"title": "x", "parties": [{"region": 5}]}', "parties[0].region", "harus berupa teks, bukan bilangan bulat"),
        (b'{"title": "x", "parties": [{"region": "1", "x": 1}]}', "parties[0].x", "kolom tidak dikenal"),
    ],
)
def test_msgspec_errors_name_the_field(raw: bytes, field: str, message: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(raw, type=Body)
    assert msgspec_field_error(caught.value) == {"field": field, "message": message}


def test_problem_response_has_the_rfc_9457_members() -> None:
    response = problem(422, "Tahap tidak boleh dilompati.", code="stage_transition_not_allowed")
    assert response.media_type == "application/problem+json"
    assert response.status_code == 422
    assert response.content == {
        "type": "urn:ksd:problem:stage_transition_not_allowed",
        "title": "Data tidak valid",
        "status": 422,
        "detail": "Tahap tidak boleh dilompati.",
        "code": "stage_transition_not_allowed",
    }


def test_a_problem_carries_the_headers_its_error_asks_for() -> None:
    from shared.errors import TooManyRequests, Unauthenticated
    from shared.http import EXCEPTION_HANDLERS

    handle = EXCEPTION_HANDLERS[KsdError]
    limited = handle(None, TooManyRequests("Tunggu.", headers={"Retry-After": "7"}))  # type: ignore[arg-type]
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    unauthenticated = handle(None, Unauthenticated("Siapa?"))  # type: ignore[arg-type]
    assert unauthenticated.headers["WWW-Authenticate"] == 'Bearer realm="ksd"'


def test_a_recursion_error_is_the_clients_400_and_a_database_outage_a_503_with_retry_after() -> None:
    import psycopg_pool

    from shared.http import EXCEPTION_HANDLERS

    handle = EXCEPTION_HANDLERS[Exception]
    deep = handle(None, RecursionError("maximum recursion depth exceeded"))  # type: ignore[arg-type]
    assert (deep.status_code, deep.content["code"]) == (400, "too_deep")
    timeout = psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec")
    outage = handle(None, timeout)  # type: ignore[arg-type]
    assert (outage.status_code, outage.content["code"]) == (503, "database_unavailable")
    assert outage.headers["Retry-After"] == "5"
    assert "connection" not in outage.content["detail"]


def test_a_ksd_error_becomes_a_graphql_error_with_its_code_and_status() -> None:
    from graphql import GraphQLError

    from shared.errors import BadRequest

    error = GraphQLError("x", original_error=BadRequest("first harus antara 1 dan 100.", code="first_out_of_range"))
    assert error.formatted["extensions"] == {"code": "first_out_of_range", "status": 400}
