"""shared.answers on a real PostgreSQL: the change counter counts each writing transaction once
at its commit, and `Answers` computes a question once per value of it, however many ask."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from shared.answers import CHANGE_COUNTER, COUNT_CHANGE, Answers, counted

SCHEMA = "answers_test"


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        for statement in [*CHANGE_COUNTER, "CREATE TABLE {s}.facts (id int PRIMARY KEY, value int NOT NULL)",
                          *counted("facts")]:
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(SCHEMA)))
    yield database_url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))


def counter(conn: psycopg.Connection[Any]) -> int:
    return conn.execute(f"SELECT n FROM {SCHEMA}.changes").fetchone()[0]  # type: ignore[index]


def test_each_writing_transaction_counts_once_at_its_commit_and_a_rolled_back_one_not_at_all(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(url, autocommit=True) as other:
        start = counter(conn)
        with conn.transaction():
            conn.execute(f"INSERT INTO {SCHEMA}.facts SELECT g, g FROM generate_series(1, 500) g")
            conn.execute(f"UPDATE {SCHEMA}.facts SET value = value + 1 WHERE id <= 10")
            assert counter(other) == start  # nothing counted before the commit
        assert counter(conn) == start + 1
        with conn.cursor().copy(f"COPY {SCHEMA}.facts (id, value) FROM STDIN") as copy:
            copy.write_row((1000, 1))
        conn.execute(f"DELETE FROM {SCHEMA}.facts WHERE id = 1000")
        assert counter(conn) == start + 3
        with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
            conn.execute(f"UPDATE {SCHEMA}.facts SET value = 0")
            conn.execute("SELECT 1 / 0")
        conn.execute(f"SELECT * FROM {SCHEMA}.facts")  # reading counts nothing
        assert counter(conn) == start + 3
        conn.execute(sql.SQL(COUNT_CHANGE).format(s=sql.Identifier(SCHEMA)))
        assert counter(conn) == start + 4


def run(url: str, scenario: Callable[[Answers], Awaitable[None]], entries: int = 256) -> None:
    async def main() -> None:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            await scenario(Answers(pool, SCHEMA, service="test", entries=entries))

    asyncio.run(main())


def write(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"UPDATE {SCHEMA}.facts SET value = value + 1 WHERE id = 1")


def test_readers_asking_at_once_wait_for_one_computation_and_later_ones_get_it_kept(url: str) -> None:
    calls: list[int] = []

    async def scenario(answers: Answers) -> None:
        release = asyncio.Event()

        async def compute() -> str:
            calls.append(1)
            await release.wait()
            return "jawaban"

        readers = [asyncio.create_task(answers.get("q", compute)) for _ in range(8)]
        await asyncio.sleep(0.2)  # every reader has asked; one computes
        assert len(calls) == 1
        release.set()
        assert await asyncio.gather(*readers) == ["jawaban"] * 8
        assert await answers.get("q", compute) == "jawaban"
        assert len(calls) == 1
        assert await answers.get("another question", compute) == "jawaban"
        assert len(calls) == 2

    run(url, scenario)


def test_a_change_committed_makes_the_next_reader_compute_again(url: str) -> None:
    async def scenario(answers: Answers) -> None:
        values = iter(range(100))

        async def compute() -> int:
            return next(values)

        assert await answers.get("q", compute) == 0
        assert await answers.get("q", compute) == 0
        await asyncio.to_thread(write, url)
        assert await answers.get("q", compute) == 1
        assert await answers.get("q", compute) == 1

    run(url, scenario)


def test_a_failed_computation_is_not_kept_and_the_readers_waiting_on_it_compute_for_themselves(url: str) -> None:
    async def scenario(answers: Answers) -> None:
        started, fail = asyncio.Event(), asyncio.Event()
        calls: list[str] = []

        async def failing() -> str:
            calls.append("failing")
            started.set()
            await fail.wait()
            raise psycopg.OperationalError("the database went away")

        async def working() -> str:
            calls.append("working")
            return "jawaban"

        first = asyncio.create_task(answers.get("q", failing))
        await started.wait()
        waiting = [asyncio.create_task(answers.get("q", working)) for _ in range(3)]
        await asyncio.sleep(0.1)
        fail.set()
        with pytest.raises(psycopg.OperationalError):
            await first
        assert await asyncio.gather(*waiting) == ["jawaban"] * 3
        assert calls == ["failing", "working"]  # the waiters: one computed, the others waited for it

    run(url, scenario)


def test_at_most_the_configured_answers_are_kept_and_none_when_it_is_zero(url: str) -> None:
    calls: list[str] = []

    async def compute_of(question: str) -> Callable[[], Awaitable[str]]:
        async def compute() -> str:
            calls.append(question)
            return question
        return compute

    async def bounded(answers: Answers) -> None:
        for question in ("a", "b", "c", "a"):  # "a" was dropped for "c"; "b" then for "a"
            await answers.get(question, await compute_of(question))
        await answers.get("c", await compute_of("c"))
        assert calls == ["a", "b", "c", "a"]

    run(url, bounded, entries=2)
    calls.clear()

    async def none_kept(answers: Answers) -> None:
        for _ in range(3):
            await answers.get("a", await compute_of("a"))
        assert calls == ["a"] * 3

    run(url, none_kept, entries=0)
