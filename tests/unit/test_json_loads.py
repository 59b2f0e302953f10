"""jsonb values are read by msgspec's decoder (shared.db.json_loads), with the json module's
values: a read model's rows come back exactly as before, only faster."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.db import json_loads

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_the_values_are_the_json_modules(value: object) -> None:
    text = json.dumps(value, ensure_ascii=False)
    for data in (text, text.encode(), memoryview(text.encode())):
        assert json_loads(data) == json.loads(text)
        assert json.dumps(json_loads(data)) == json.dumps(json.loads(text))  # key order and types too


@pytest.mark.parametrize("text", ["[1e400]", '{"a": -1e999}'])
def test_a_number_beyond_a_float_is_read_as_the_json_module_reads_it(text: str) -> None:
    assert json_loads(text.encode()) == json.loads(text)


def test_what_neither_reads_is_an_error() -> None:
    with pytest.raises(ValueError):
        json_loads(b"{not json")
