"""Bulk input decodes each line with one shared decoder: the same result and the same error as json.loads."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from logsvc.bulk import _decode
from logsvc.entry import unique_keys

FRAGMENTS = st.sampled_from(['{"message": "x"', '}', '{', '"a": 1, "a": 2', ', ', '[', ']', '\ufeff', ' ', '1e999',
                             'NaN', '"\\ud800"', '9' * 5000, 'null', '"severity": "info"', '{}', '\n',
                             # line ends and other whitespace after an object (JSON's, and \x0b, \x85 that are not)
                             '\r', '\r\n', '\t', '\x0b', '\x85', '{"a": {"b": [1, 2]}}'])


def outcome(decode, text: str):
    try:
        return "ok", decode(text)
    except ValueError as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=400, deadline=None)
@given(st.lists(FRAGMENTS, max_size=8).map("".join))
def test_the_shared_decoder_answers_as_json_loads_does(text):
    expected = outcome(lambda line: json.loads(line, object_pairs_hook=unique_keys), text)
    got = outcome(_decode, text)
    assert repr(got) == repr(expected)  # repr: NaN compares unequal to itself
