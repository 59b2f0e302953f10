"""Answers computed from a read model, served again while that read model has not changed.

An analysis over 100,000 agreements, a province's consolidation, the national roll-up: each
is a function of the read model's rows, the caller's tenant and roles, the arguments and the
day (WIB), and many officials open the same dashboard and ask the same question of the same
rows. A schema whose answers are reused keeps a change counter (`{schema}.changes`, one row):

- every transaction that writes a counted table (a projection's rows or its positions, a
  recount, a dead letter replayed, an UPDATE typed in psql) adds one, once, at its commit: a
  deferred constraint trigger on each table (`counted`), so no writer has to remember it;
- a switch-over to a view rebuilt beside the live one adds one (`COUNT_CHANGE`), in its
  transaction: the renamed tables are other rows under the same names.

`Answers` reads the counter before it computes an answer, and keeps the answer under the value
it read. What is computed after that read is at least as new as the value: a commit in between
makes the kept answer newer than its key, never older, and the next reader, seeing a new value,
computes again. An answer is served only while the counter still reads its value: a query of
one row per request, on a pool connection. Answers are kept in the process (each instance its
own, bounded; a read replica's counter is as far behind as its rows), and an answer is
computed once at a time: readers asking the same question meanwhile wait for it.

Only what is a function of those inputs may be kept: not a result with errors (an outage, a
timeout), not a compile that will be frozen into a submission.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import ExecutionResult as GraphQLExecutionResult
from prometheus_client import Counter
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from shared.auth import Identity

T = TypeVar("T")

ANSWERS = Counter(
    "ksd_answers",
    "Answers asked of a read model (outcome: kept = served again, computed, waited = for another request computing it)",
    ["service", "outcome"],
)

# `{s}`: the schema (formatted by the caller).
CHANGE_COUNTER = [
    "CREATE TABLE IF NOT EXISTS {s}.changes (n bigint NOT NULL)",
    "INSERT INTO {s}.changes (n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {s}.changes)",
    # Once per transaction, however many rows it wrote: the first row's call counts and notes
    # it in a setting local to the transaction, which every later call reads (a microsecond a
    # row; an UPDATE that matches nothing was five).
    """
    CREATE OR REPLACE FUNCTION {s}.ksd_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('ksd.counted_' || TG_TABLE_SCHEMA, true) IS DISTINCT FROM pg_current_xact_id()::text THEN
            PERFORM set_config('ksd.counted_' || TG_TABLE_SCHEMA, pg_current_xact_id()::text, true);
            UPDATE {s}.changes SET n = n + 1;
        END IF;
        RETURN NULL;
    END;
    $$
    """,
]

COUNT_CHANGE = "UPDATE {s}.changes SET n = n + 1"


def counted(table: str, schema: str = "{s}") -> list[str]:
    """The statements that count every transaction writing `table` (in `schema`, a placeholder
    the caller formats) in the schema's change counter, at its commit (deferred: the counter's
    row is locked last, for the instant of the commit). A table built beside a live one is left
    uncounted until it takes the live one's place (no reader reads it before)."""
    return [
        f"DROP TRIGGER IF EXISTS ksd_counted ON {schema}.{table}",
        f"CREATE CONSTRAINT TRIGGER ksd_counted AFTER INSERT OR UPDATE OR DELETE ON {schema}.{table}"
        f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {schema}.ksd_count_change()",
    ]


@dataclass
class _Slot:
    """A question being answered at a value of the counter, and its readers' wait."""

    value: int
    question: Hashable
    done: asyncio.Future[None]


class Answers:
    """Answers kept per question while the schema's change counter holds its value (at most
    `entries` of them, the least recently served dropped first; 0: none kept)."""

    def __init__(self, pool: AsyncConnectionPool, schema: str, *, service: str, entries: int = 256) -> None:
        self.pool = pool
        self.service = service
        self.entries = entries
        self._read = sql.SQL("SELECT n FROM {}.changes").format(sql.Identifier(schema))
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()  # by question
        self._value: int | None = None  # the counter's value the kept answers were computed at
        self._computing: dict[tuple[int, Hashable], _Slot] = {}  # by (value, question)

    async def counter(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(self._read)
            row = await cur.fetchone()
        return int(row["n"] if isinstance(row, dict) else row[0])  # type: ignore[index]

    async def get(self, question: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The kept answer to `question`, or `compute()`'s, kept."""
        found, value, slot = await self.look_up(question)
        if found:
            return value  # type: ignore[no-any-return]
        try:
            answer = await compute()
        except BaseException:
            self.release(slot)
            raise
        self.keep(slot, answer)
        return answer

    async def look_up(self, question: Hashable) -> tuple[bool, Any, _Slot | None]:
        """(True, the answer, None) when one is kept; else (False, None, a slot) to `keep` the
        answer in or `release` (always one of the two, or readers of the same question wait
        on). Waits while another request computes the same answer."""
        if self.entries <= 0:
            return False, None, None
        while True:
            value = await self.counter()
            if value != self._value:  # the read model moved: nothing kept answers it now
                self._kept.clear()
                self._value = value
            if question in self._kept:
                self._kept.move_to_end(question)
                ANSWERS.labels(self.service, "kept").inc()
                return True, self._kept[question], None
            computing = self._computing.get((value, question))
            if computing is None:
                slot = _Slot(value, question, asyncio.get_running_loop().create_future())
                self._computing[value, question] = slot
                ANSWERS.labels(self.service, "computed").inc()
                return False, None, slot
            ANSWERS.labels(self.service, "waited").inc()
            await asyncio.shield(computing.done)  # then look again: kept, or computed again if it failed

    def keep(self, slot: _Slot | None, answer: Any) -> None:
        if slot is None:
            return
        if slot.value == self._value:  # else the read model moved meanwhile: nobody asks at that value
            self._kept[slot.question] = answer
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)
        self.release(slot)

    def release(self, slot: _Slot | None) -> None:
        if slot is None:
            return
        if self._computing.get((slot.value, slot.question)) is slot:
            del self._computing[slot.value, slot.question]
        if not slot.done.done():
            slot.done.set_result(None)


def reuse_answers(scope: Callable[[Any], Hashable]) -> type[SchemaExtension]:
    """A strawberry schema extension: a query's result is kept in the context's `answers`
    (an `Answers`) under the caller's tenant and roles, the document, its variables, the
    operation's name and `scope(context)` (what else the schema's answers depend on: the day);
    asked again while the read model has not changed, it is served without running a resolver.
    For a schema every one of whose resolvers reads only the read model, static reference data
    and what the key holds. Results with errors are never kept."""

    class ReuseAnswers(SchemaExtension):
        async_only = True  # it awaits: left out of a synchronous execution (shared.graphql.ServiceSchema)

        async def on_execute(self) -> AsyncIterator[None]:
            context = self.execution_context
            answers: Answers | None = getattr(context.context, "answers", None)
            identity = getattr(context.context, "identity", None)
            if (answers is None or not isinstance(identity, Identity) or context.result is not None
                    or context.operation_type is not OperationType.QUERY):
                yield
                return
            question = (
                "graphql", identity.tenant, tuple(sorted(identity.roles)), context.query,
                json.dumps(context.variables, sort_keys=True, default=str),
                getattr(context, "_provided_operation_name", None), scope(context.context),
            )
            found, data, slot = await answers.look_up(question)
            if found:
                context.result = GraphQLExecutionResult(data=data)
            try:
                yield
            except BaseException:
                answers.release(slot)
                raise
            result = context.result
            if slot is not None and result is not None and not result.errors and result.data is not None:
                answers.keep(slot, result.data)
            else:
                answers.release(slot)

    return ReuseAnswers
