"""The read path's caches: a token verified once per lifetime, a GraphQL document validated
once per text; neither lets through what a fresh check would refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import strawberry

from shared.auth import VERIFIED_TOKENS_MAX, TokenService
from shared.clock import ManualClock
from shared.errors import Forbidden, Unauthenticated
from shared.graphql import ServiceSchema, limit_extensions
from shared.settings import Settings

SECRET = "s" * 40


def _tokens(clock: ManualClock) -> TokenService:
    return TokenService(Settings.from_env({}, jwt_secret=SECRET), clock=clock)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token PyJWT decodes (the signature check the cache saves)."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return seen


def test_a_token_is_verified_once_while_it_is_valid(decodes: list[str]) -> None:
    tokens = _tokens(ManualClock(datetime.now(UTC)))
    token = tokens.issue(tenant="32.73", roles=["monitor"], ttl_seconds=120)
    assert tokens.verify(token) == tokens.verify(token) == tokens.verify(token)
    assert decodes == [token]


def test_a_cached_token_is_refused_once_its_exp_has_passed(decodes: list[str]) -> None:
    clock = ManualClock(datetime.now(UTC))
    tokens = _tokens(clock)
    token = tokens.issue(tenant="32.73", roles=["monitor"], ttl_seconds=120)
    tokens.verify(token)
    clock.advance(seconds=121)
    with pytest.raises(Unauthenticated) as caught:
        tokens.verify(token)
    assert caught.value.code == "token_expired"
    with pytest.raises(Unauthenticated):  # and stays refused
        tokens.verify(token)


def test_a_cached_token_is_verified_again_after_five_minutes(decodes: list[str]) -> None:
    clock = ManualClock(datetime.now(UTC))
    tokens = _tokens(clock)
    token = tokens.issue(tenant="32.73", roles=["monitor"], ttl_seconds=3600)
    tokens.verify(token)
    clock.advance(seconds=301)
    tokens.verify(token)
    assert decodes == [token, token]


def test_a_refused_token_is_never_cached(decodes: list[str]) -> None:
    tokens = _tokens(ManualClock(datetime.now(UTC)))
    forged = jwt.encode({"sub": "x", "tenant": "32.73", "roles": ["monitor"], "exp": 4_000_000_000},
                        "another-secret-" * 3, algorithm="HS256")
    no_role = jwt.encode({"sub": "x", "tenant": "32.73", "roles": ["root"], "exp": 4_000_000_000},
                         SECRET, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            tokens.verify(forged)
        with pytest.raises(Forbidden):
            tokens.verify(no_role)
    assert decodes == [forged, no_role, forged, no_role]


def test_the_verified_tokens_are_bounded(decodes: list[str]) -> None:
    tokens = _tokens(ManualClock(datetime.now(UTC)))
    first = tokens.issue(tenant="32.73", roles=["monitor"], sub="u0")
    tokens.verify(first)
    for i in range(VERIFIED_TOKENS_MAX):
        tokens.verify(tokens.issue(tenant="32.73", roles=["monitor"], sub=f"u{i + 1}"))
    decodes.clear()
    tokens.verify(first)  # pushed out by newer ones: verified again
    assert decodes == [first]


# -- GraphQL: the validation cache ---------------------------------------------------------


@strawberry.type
class _Node:
    name: str

    @strawberry.field
    def child(self) -> _Node:
        return _Node(name=self.name + "'")


@strawberry.type
class _Query:
    @strawberry.field
    def node(self) -> _Node:
        return _Node(name="n")


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every document graphql-core validates."""
    import strawberry.schema.schema as strawberry_schema

    seen: list[object] = []
    real = strawberry_schema.validate

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        seen.append(document)
        return real(schema, document, rules)

    monkeypatch.setattr(strawberry_schema, "validate", counting)
    return seen


def _schema(**limits: int) -> ServiceSchema:
    return ServiceSchema(query=_Query, extensions=limit_extensions(Settings.from_env({}, **limits)))


def test_the_same_document_is_validated_once(validations: list[object]) -> None:
    schema = _schema()
    query = "{ node { name child { name } } }"
    for _ in range(3):
        assert schema.execute_sync(query).data == {"node": {"name": "n", "child": {"name": "n'"}}}
    assert len(validations) == 1


def test_a_cached_validation_still_refuses_a_document_too_deep(validations: list[object]) -> None:
    schema = _schema(graphql_max_depth=2)
    deep = "{ node { child { child { name } } } }"
    for _ in range(2):
        result = schema.execute_sync(deep)
        assert result.data is None and result.errors
        assert "exceeds maximum operation depth" in result.errors[0].message
    assert len(validations) == 1


def test_a_cached_validation_still_refuses_too_many_aliases(validations: list[object]) -> None:
    schema = _schema(graphql_max_aliases=2)
    aliased = "{ a: node { name } b: node { name } c: node { name } }"
    for _ in range(2):
        result = schema.execute_sync(aliased)
        assert result.data is None and result.errors
        assert "aliases found" in result.errors[0].message
    assert len(validations) == 1


def test_schemas_with_other_limits_do_not_share_a_verdict() -> None:
    deep = "{ node { child { child { name } } } }"
    assert _schema(graphql_max_depth=2).execute_sync(deep).errors
    assert _schema(graphql_max_depth=5).execute_sync(deep).errors is None
