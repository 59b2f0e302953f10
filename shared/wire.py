"""The field types of every service's API, in one place: what a request may carry.

A value the database cannot store (a NUL in a `text` column or a `jsonb` document, a number
beyond a `numeric` column) must never reach an event: once stored, every projection that
applies the event fails on it. So each service's request Structs (`services/*/api/schemas.py`)
are built from these types, and msgspec refuses a breaking value when it decodes the body:
422 `validation_failed`, naming the field. Query parameters and multipart fields use the same
patterns (400 `invalid_parameter`, 422), and GraphQL arguments are checked by
`RefuseUnstorableArguments`.

Text: any printable Unicode, tab, line feed and carriage return; never NUL, another C0 or C1
control character, DEL, or half of a surrogate pair (msgspec already refuses a lone surrogate
escape in a JSON body, `\\ud800`, as malformed JSON; GraphQL variables, read by Python's
`json`, may still carry one). Each kind of text has its own length: names and references are
short, free text is long, a narrative longer.

Numbers: rupiah amounts are whole, from 0 to 2**53 - 1 (9.007 kuadriliun rupiah, more than the
whole state budget): the largest integer every JSON reader (JavaScript's `Number`) keeps
exact, far inside the registry's `numeric(20, 0)` columns and PostgreSQL `bigint`. Counts fit
PostgreSQL `integer`; quantities are finite and at most 10**15.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any

import msgspec

from shared.errors import InvalidInput

# -- text --------------------------------------------------------------------------------------

# C0 controls but tab (09), line feed (0a) and carriage return (0d); DEL; C1 controls; the
# surrogate halves (never a character on their own; UTF-8 cannot encode them).
_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
TEXT_PATTERN = rf"^[^{_FORBIDDEN}]*$"
_FORBIDDEN_RE = re.compile(rf"[{_FORBIDDEN}]")

TEXT_RULE = "teks tanpa karakter kendali (NUL, U+0001-U+001F kecuali tab dan baris baru, U+007F-U+009F)"


def _text(max_length: int, description: str, **meta: Any) -> Any:
    return Annotated[
        str, msgspec.Meta(pattern=TEXT_PATTERN, max_length=max_length, description=f"{description}; {TEXT_RULE}",
                          **meta)
    ]


NAME_MAX = 300
REFERENCE_MAX = 200
LABEL_MAX = 100
TEXT_MAX = 4_000
NARRATIVE_MAX = 20_000
SEARCH_MAX = 200

Name = _text(NAME_MAX, f"a name (of a party, a person, a position, a file), at most {NAME_MAX} characters")
Title = _text(NAME_MAX, f"a title, 3 to {NAME_MAX} characters", min_length=3)
Reference = _text(REFERENCE_MAX, f"nomor surat/naskah, 1 to {REFERENCE_MAX} characters", min_length=1)
Label = _text(LABEL_MAX, f"a short label (a kind, a country, a unit), at most {LABEL_MAX} characters")
Text = _text(TEXT_MAX, f"free text, at most {TEXT_MAX} characters")
Narrative = _text(NARRATIVE_MAX, f"a narrative, at most {NARRATIVE_MAX} characters")
SearchText = _text(SEARCH_MAX, f"words to search for, at most {SEARCH_MAX} characters")

# -- identifiers and codes ---------------------------------------------------------------------

REGION_PATTERN = r"^[0-9]{2}(\.[0-9]{2})?$"
PROVINCE_PATTERN = r"^[0-9]{2}$"
URUSAN_PATTERN = r"^[1-3]\.[0-9]{2}$"
PERIOD_PATTERN = r"^[0-9]{4}(-S[12])?$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
URL_PATTERN = r"^https?://[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff]+$"

RegionCode = Annotated[str, msgspec.Meta(pattern=REGION_PATTERN, max_length=5, examples=["32.04"],
                                         description="kode wilayah Kemendagri: a province (32) or a kab/kota (32.04)")]
ProvinceCode = Annotated[str, msgspec.Meta(pattern=PROVINCE_PATTERN, max_length=2, examples=["32"],
                                           description="kode provinsi")]
UrusanCode = Annotated[str, msgspec.Meta(pattern=URUSAN_PATTERN, max_length=4, examples=["2.11"],
                                         description="kode urusan pemerintahan (Permendagri 90/2019)")]
PeriodText = Annotated[str, msgspec.Meta(pattern=PERIOD_PATTERN, max_length=7, examples=["2026-S1"],
                                         description="a semester (2026-S1, 2026-S2) or a year (2026)")]
Sha256 = Annotated[str, msgspec.Meta(pattern=SHA256_PATTERN, min_length=64, max_length=64,
                                     description="SHA-256 of a file, 64 lowercase hex digits")]
Url = Annotated[str, msgspec.Meta(pattern=URL_PATTERN, max_length=2000,
                                  description="an http(s) link, at most 2000 characters")]

# -- numbers -----------------------------------------------------------------------------------

MAX_RUPIAH = 2**53 - 1
MAX_COUNT = 2**31 - 1
MAX_QUANTITY = 1e15

Rupiah = Annotated[int, msgspec.Meta(ge=0, le=MAX_RUPIAH, description=f"rupiah, whole, 0 to {MAX_RUPIAH}")]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT, description=f"a count, 0 to {MAX_COUNT}")]
Quantity = Annotated[float, msgspec.Meta(ge=0, le=MAX_QUANTITY, description="a quantity, 0 to 10^15")]
Score = Annotated[float, msgspec.Meta(ge=0, le=100, description="a score, 0 to 100")]

# -- messages a person reads -------------------------------------------------------------------

_PATTERN_MESSAGES = {
    TEXT_PATTERN: "berisi karakter kendali (mis. NUL) yang tidak boleh ada dalam teks",
    REGION_PATTERN: "bukan kode wilayah (contoh: 32 atau 32.04)",
    PROVINCE_PATTERN: "bukan kode provinsi (contoh: 32)",
    URUSAN_PATTERN: "bukan kode urusan (contoh: 2.11)",
    PERIOD_PATTERN: "bukan periode (contoh: 2026-S1, 2026-S2 atau 2026)",
    SHA256_PATTERN: "bukan SHA-256 (64 digit heksadesimal huruf kecil)",
    URL_PATTERN: "bukan tautan http(s) yang valid",
}


_TYPE_NAMES = {
    "str": "teks", "int": "bilangan bulat", "float": "angka", "number": "angka", "decimal": "angka",
    "bool": "benar/salah (true/false)", "array": "daftar", "object": "objek", "null": "null",
    "date": "tanggal (TTTT-BB-HH)", "datetime": "waktu RFC 3339", "uuid": "UUID",
}


def _type_name(name: str) -> str:
    return " atau ".join(_TYPE_NAMES.get(part.strip(" `"), part.strip(" `")) for part in name.split("|"))


# msgspec's messages (English, with its type names) as an official reads them.
INVALID_DATE = "bukan tanggal yang sah (TTTT-BB-HH)"
_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"Expected `(?P<t>[^`]+)` of length (?P<op><=|>=) (?P<n>\d+)"),
     lambda m: f"paling {'panjang' if m['t'] == 'str' else 'banyak'} {m['n']} "
               f"{'karakter' if m['t'] == 'str' else 'butir'}" if m["op"] == "<=" else
               f"paling {'pendek' if m['t'] == 'str' else 'sedikit'} {m['n']} "
               f"{'karakter' if m['t'] == 'str' else 'butir'}"),
    (re.compile(r"Expected `(?P<t>[^`]+)` (?P<op><=|>=|<|>) (?P<n>[-\d.e+]+)"),
     lambda m: {"<=": "paling besar", ">=": "paling kecil", "<": "harus kurang dari",
                ">": "harus lebih dari"}[m["op"]] + f" {m['n']}"),
    (re.compile(r"Expected `(?P<t>[^`]+)` matching regex"), lambda m: "tidak sesuai format yang diminta"),
    (re.compile(r"Expected `(?P<t>[^`]+)`, got `(?P<g>[^`]+)`"),
     lambda m: f"harus berupa {_type_name(m['t'])}, bukan {_type_name(m['g'])}"),
    (re.compile(r"Invalid enum value (?P<v>.*)"), lambda m: f"nilai {m['v']} tidak dikenal"),
    (re.compile(r"Invalid RFC3339 encoded datetime"), lambda m: "bukan waktu RFC 3339 yang sah"),
    (re.compile(r"Invalid RFC3339 encoded date"), lambda m: INVALID_DATE),
    (re.compile(r"Invalid UUID"), lambda m: "bukan UUID yang sah"),
    (re.compile(r"Expected `(?P<t>[^`]+)`$"), lambda m: f"harus berupa {_type_name(m['t'])}"),
]


def explain(message: str) -> str:
    """msgspec's message as a person reads it, in Bahasa Indonesia: `Expected `str` matching
    regex '^[^\\x00-...]*$'` says nothing to an operator; `berisi karakter kendali` does."""
    for pattern, readable in _PATTERN_MESSAGES.items():
        if f"matching regex {pattern!r}" in message:
            return readable
    for regex, readable_of in _MESSAGES:
        if match := regex.match(message):
            return readable_of(match)
    return message


def text_problem(value: str, max_length: int | None = None) -> str | None:
    """Why `value` may not be stored as text (None when it may)."""
    if _FORBIDDEN_RE.search(value):
        return _PATTERN_MESSAGES[TEXT_PATTERN]
    if max_length is not None and len(value) > max_length:
        return f"paling panjang {max_length} karakter"
    return None


def check_text(value: str | None, field: str, max_length: int = NAME_MAX) -> str | None:
    """A text that arrives outside a JSON body (a multipart field, a file name): 422 naming
    `field` when it could not be stored, as a body field would be refused."""
    if value is not None and (problem := text_problem(value, max_length)):
        raise InvalidInput("Isian tidak sesuai ketentuan.", errors=[{"field": field, "message": problem}])
    return value


# -- GraphQL arguments ---------------------------------------------------------------------------

GRAPHQL_STRING_MAX = 1_000


def _variable_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _variable_strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _variable_strings(item, f"{path}[{i}]")


def _document_strings(document: Any) -> Iterator[tuple[str, str]]:
    """Every string literal of a parsed GraphQL document, named by its argument path."""
    from graphql import ArgumentNode, ObjectFieldNode, StringValueNode, Visitor, visit

    found: list[tuple[str, str]] = []

    class Strings(Visitor):
        def enter_string_value(self, node: StringValueNode, key: Any, parent: Any, path: Any, ancestors: Any) -> None:
            names = [a.name.value for a in (*ancestors, parent) if isinstance(a, ArgumentNode | ObjectFieldNode)]
            found.append((".".join(names) or "query", node.value))

    visit(document, Strings())
    yield from found


def unstorable_argument(document: Any, variables: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The first string of a GraphQL operation (a literal or a variable) that may not be
    stored or searched for, with why; None when all may."""
    strings = [*(_document_strings(document) if document is not None else ()),
               *_variable_strings(dict(variables or {}), "$")]
    for path, value in strings:
        if problem := text_problem(value, GRAPHQL_STRING_MAX):
            return path.removeprefix("$."), problem
    return None


@functools.cache
def refuse_unstorable_arguments() -> Any:
    """A strawberry schema extension: an operation whose arguments carry a string the database
    cannot hold (NUL, control characters, half a surrogate pair) or longer than
    `GRAPHQL_STRING_MAX` is refused before any resolver runs, with an error naming the argument
    (`filter.q: berisi karakter kendali ...`), as REST refuses such a parameter."""
    from graphql import ExecutionResult, GraphQLError
    from strawberry.extensions import SchemaExtension

    class RefuseUnstorableArguments(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            context = self.execution_context
            bad = unstorable_argument(context.graphql_document, context.variables)
            if bad is not None:
                field, problem = bad
                context.result = ExecutionResult(data=None, errors=[GraphQLError(
                    f"{field}: {problem}.", extensions={"code": "invalid_parameter", "field": field})])
            yield

    return RefuseUnstorableArguments
