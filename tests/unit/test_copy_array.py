"""`shared.projection.copy_array`: lists of codes as PostgreSQL array literals for a text COPY,
read back by a real server as the same arrays; anything that would need quoting stays a list."""

from __future__ import annotations

import psycopg
import pytest

from shared.projection import copy_array

CASES = [
    ["2.11", "1.03"], ["32"], [], ["32.73", "32.04", "national"],
    ["a b"], ["x,y"], ['q"'], ["{}"], ["NULL"], ["null"], [""], ["back\\slash"], ["tab\there"], ["ünï"],
    [None], [1, 2],
]


def test_plain_codes_become_a_literal_and_the_rest_stays_a_list() -> None:
    assert copy_array(["2.11", "1.03"]) == "{2.11,1.03}"
    assert copy_array(("32",)) == "{32}"
    assert copy_array([]) == "{}"
    for odd in (["a b"], ["x,y"], ["NULL"], [""], [None]):
        assert copy_array(odd) == odd
    assert copy_array(("a b",)) == ["a b"]  # a tuple would not be dumped as an array


@pytest.mark.parametrize("values", CASES)
def test_what_the_server_reads_back_is_the_list(pg_server_url: str, values: list) -> None:
    kind = "int[]" if values and isinstance(values[0], int) else "text[]"
    with psycopg.connect(pg_server_url) as conn:
        conn.execute(f"CREATE TEMP TABLE t (v {kind})")
        with conn.cursor().copy("COPY t (v) FROM STDIN") as copy:
            copy.write_row((copy_array(values),))
        assert conn.execute("SELECT v FROM t").fetchone()[0] == values
