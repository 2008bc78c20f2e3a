"""The fast paths of the per-page work against the plain definitions they replace: the depth of
an answer's JSON measured on its text, and the escapes decoded where they start."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from nexla_procurify.http.answers import MAX_JSON_DEPTH, _deeper_than
from nexla_procurify.secret import _ESCAPE, _decode_escapes, _unescaped

# Strings full of what could fool a scan of the text: brackets, quotes, backslashes.
tricky_text = st.text(alphabet=st.sampled_from('ab[]{}"\\/é\n\t:,'), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """Containers nested in ``value``, the plain way."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@given(json_values, st.booleans(), st.integers(min_value=0, max_value=8))
def test_depth_on_the_text_is_the_depth_of_the_value(
    value: Any, ascii_only: bool, limit: int
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert _deeper_than(text.encode(), limit) == (depth(value) > limit)


def test_depth_at_the_bound() -> None:
    at_bound = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert not _deeper_than(at_bound, MAX_JSON_DEPTH)
    assert _deeper_than(b"[" + at_bound + b"]", MAX_JSON_DEPTH)
    assert not _deeper_than(b'["' + b"[" * 200 + b'"]', MAX_JSON_DEPTH)


escape_pieces = st.sampled_from(
    [
        *("a", "%", "&", "\\", ";", "#", "x", "u", "U", "0", "4", "1", "d", "D", "8", "e", "+"),
        "é",
        "&amp;",
        "&#65;",
        "&#x41;",
        "%41",
        "%e2%82%ac",
        "\\u0041",
        "\\x41",
        "\\ud83d\\ude00",
        '\\"',
    ]
)


@given(st.lists(escape_pieces, max_size=30).map("".join))
def test_escapes_decoded_where_they_start_as_by_the_pattern(text: str) -> None:
    assert _decode_escapes(text) == _ESCAPE.sub(_unescaped, text)
