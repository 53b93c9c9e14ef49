"""`printable` and `to_json`: every terminal control and invisible character escaped, and their
ASCII fast paths (which skip the regular expression) agree with the full escaping everywhere."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from logsvc.output import _escape, _json_escape, _unsafe, printable, to_json

# Text weighted towards what needs escaping: ASCII controls, DEL, C1, invisible characters.
TRICKY = st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x7f),
    st.sampled_from(["\x85", "\x9b", "\u00ad", "\u200b", "\u202e", "\u2028", "\ufeff", "\U000e0041", "é", "日", "🚀"]),
    st.characters(),
))


@settings(max_examples=1000, deadline=None)
@given(TRICKY, st.booleans())
def test_printable_is_the_full_escaping(text, keep_newlines):
    full = _unsafe(False).sub(_escape, text)
    assert printable(text, keep_newlines=keep_newlines) == (full if keep_newlines else full.replace("\n", "\\n"))


@settings(max_examples=1000, deadline=None)
@given(st.lists(TRICKY, max_size=4), st.sampled_from([None, 2]))
def test_to_json_is_the_full_escaping_and_round_trips(texts, indent):
    dumped = json.dumps(texts, ensure_ascii=False, indent=indent)
    shown = to_json(texts, indent=indent)
    assert shown == _unsafe(True).sub(_json_escape, dumped)
    assert json.loads(shown) == texts


def test_what_no_terminal_may_receive_raw_is_escaped():
    for raw in ("\x1b[2J", "\x07", "\r", "\x7f", "\x9b31m", "\u202e", "\u200b", "\x00"):
        shown = printable(f"a{raw}b", keep_newlines=False)
        assert raw not in shown and shown.startswith("a") and shown.endswith("b"), repr(shown)
        assert raw[0] not in to_json(f"a{raw}b"), repr(to_json(f"a{raw}b"))  # the control character itself
    assert printable("tab\there") == "tab\there"  # a tab is shown as it is
    assert printable("two\nlines", keep_newlines=False) == "two\\nlines"
    assert printable("plain ASCII, printable") == "plain ASCII, printable"
