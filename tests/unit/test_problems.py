"""Errors become RFC 9457 problem details that name the offending field."""

import msgspec
import pytest

from shared.http import msgspec_field_error, problem


class Party(msgspec.Struct, forbid_unknown_fields=True):
    region: str


class Body(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    parties: list[Party]


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (b'{"title": 1, "parties": []}', "title", "Expected `str`, got `int`"),
        (b'{"title": "x", "parties": [], "colour": 1}', "colour", "unknown field"),
        (b'{"parties": []}', "title", "required field is missing"),
        (b'{"title": "x", "parties": [{"region": 5}]}', "parties[0].region", "Expected `str`, got `int`"),
        (b'{"title": "x", "parties": [{"region": "1", "x": 1}]}', "parties[0].x", "unknown field"),
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
