"""`Spool.flush` on its own: what it returns and keeps (gaps found by mutation testing)."""

from __future__ import annotations

from logsvc.entry import normalise
from logsvc.spool import Spool

TARGET = "url http://127.0.0.1:1/ingest auth=none"


def test_flushing_a_spool_that_was_never_written_delivers_nothing(tmp_path):
    calls = []
    assert Spool(TARGET, tmp_path / "spool").flush(calls.append) == 0
    assert calls == []


def test_flush_returns_every_entry_it_delivered_over_several_batches(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    entries = [normalise({"severity": "info", "message": f"m{i}"}) for i in range(1001)]
    spool.append(entries)
    batches = []
    assert spool.flush(batches.append) == 1001
    assert [len(batch) for batch in batches] == [500, 500, 1]
    assert [entry for batch in batches for entry in batch] == entries
    assert spool.count() == 0
