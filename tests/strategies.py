"""Hypothesis strategies for crafted query strings: what a hand-edited address, a broken
link or a hostile client may send as a query parameter (see the test_fuzz_query_params
modules). A parameter's value is text or raw bytes (sent percent-encoded, invalid UTF-8
included)."""

import base64
import json
import os
from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded for CI; FUZZ_EXAMPLES=500 searches further on a developer's machine.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**31 - 2, max_value=2**31 + 2),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2),
    st.sampled_from([10**400, -(10**400)]),
)
SPECIAL_TEXT = ["\x00", "a\x00b", "", " ", "%", "\\", "'", '"', "<script>", "\u202e", "𝟘"]
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SPECIAL_TEXT),
    st.text(min_size=1, max_size=5).map(lambda text: (text * 5000)[:5000]),  # huge
)
# What JSON may carry besides: lone surrogates (no database text can hold one).
JSON_TEXT = st.one_of(TEXT, st.text(st.characters(codec=None, exclude_categories=())))
# The first and last days a date field reads, in the formats it reads.
CALENDAR_ENDS = st.sampled_from(["0001-01-01", "9999-12-31", "01/01/0001", "12/31/9999"])
DATE_TEXT = st.one_of(
    CALENDAR_ENDS,
    st.dates().map(date.isoformat),
    st.sampled_from(
        [
            "0000-01-01",
            "10000-01-01",
            "9999-12-32",
            "2025-02-30",
            "12/31/99",
            "31/12/2025",
            "2025-13-01",
            "-2025-01-01",
            "2025-01-01T00:00",
            "9" * 30,
        ]
    ),
)
NUMBER_TEXT = st.one_of(
    NUMBERS.map(str),
    st.floats().map(str),
    st.sampled_from(["1e999", "-0", "0x10", "1_000", "١٢٣", " 7 ", "+1", "NaN", "inf"]),
)
# What the database refuses in a text value, or a bigint column cannot hold.
REFUSED = st.sampled_from(["\x00", "name\x00", "\ud800", "a\udfff", 2**63, -(2**63) - 1])
SCALARS = st.one_of(
    REFUSED, st.none(), st.booleans(), NUMBERS, st.floats(), JSON_TEXT, DATE_TEXT, NUMBER_TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(JSON_TEXT, children),
    max_leaves=10,
)


def json_bytes(value) -> bytes:
    """JSON as the pages write it, with lone surrogates and huge numbers written anyway."""
    return json.dumps(value, separators=(",", ":")).encode()


def base64_text(payload: bytes, padded: bool) -> str:
    text = base64.urlsafe_b64encode(payload).decode()
    return text if padded else text.rstrip("=")


def _decoded(cursor: str) -> list:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def _replaced(cursor: str, index: int, value) -> bytes:
    sort, values = _decoded(cursor)
    values[index % len(values)] = value
    return json_bytes([sort, values])


def keyset_cursors(sorts: list[str], real: list[str] = ()):
    """Cursors of the patron list's form (base64 of the JSON [sort, [values...]]) and their
    breakages: random bytes, random JSON, a real sort with values of any type and number,
    a `real` cursor with one value replaced by anything, nesting deeper than a JSON reader
    goes, and plain junk."""
    payloads = [
        st.binary(max_size=300),
        JSON.map(json_bytes),
        st.tuples(st.sampled_from(sorts), st.lists(SCALARS, max_size=4)).map(
            lambda pair: json_bytes(list(pair))
        ),
        st.tuples(st.sampled_from(sorts), JSON).map(lambda pair: json_bytes(list(pair))),
        st.integers(min_value=1, max_value=3000).map(lambda depth: b"[" * depth + b"]" * depth),
    ]
    encoded = st.builds(base64_text, st.one_of(payloads), st.booleans())
    if not real:
        return st.one_of(encoded, TEXT, NUMBER_TEXT)
    return st.one_of(mutated_cursors(real), st.sampled_from(real), encoded, TEXT, NUMBER_TEXT)


def mutated_cursors(real: list[str]):
    """A real cursor with one of its values replaced by anything: what reaches the query."""
    payloads = st.builds(_replaced, st.sampled_from(real), st.integers(0, 3), SCALARS)
    return st.builds(base64_text, payloads, st.booleans())


def dotted_cursors():
    """Cursors of the operator log's form ("<microseconds>.<id>") and their breakages."""
    parts = st.one_of(NUMBERS.map(str), NUMBER_TEXT, TEXT)
    return st.one_of(st.lists(parts, min_size=1, max_size=3).map(".".join), TEXT)


def any_value(*choices: str):
    """A value for a parameter: one it offers (`choices`), or anything at all."""
    anything = st.one_of(TEXT, NUMBER_TEXT, DATE_TEXT, st.binary(max_size=20))
    return st.one_of(st.sampled_from(choices), anything) if choices else anything


def query(parameters: dict):
    """Some of `parameters` (name -> strategy of its value), each maybe sent twice."""
    values = {
        name: st.one_of(value, st.lists(value, min_size=2, max_size=2))
        for name, value in parameters.items()
    }
    return st.fixed_dictionaries({}, optional=values)
