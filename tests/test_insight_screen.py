"""`logsvc top` and the `stats` chart as a person sees them: run in tmux at 80 and 200 columns.

Each test starts its own tmux server (its own socket), runs the command in a pane of a known
size, captures what is on screen and asserts on it; then checks the terminal was given back
(alternate screen off, echo and canonical mode on) after q or Ctrl-C.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ROOT, run_logsvc
from tests.insight_fixtures import moto_endpoint, target  # noqa: F401 - fixtures
from tests.targets_fixtures import cli, jsonl, stored_form

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (apt-get install tmux): the screen tests need a terminal")
LONG = "the quick brown fox jumps over the lazy dog " * 3


class Pane:
    def __init__(self, width: int, height: int, command: str, env: dict) -> None:
        self.socket = f"logsvc-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
        # COLUMNS/LINES unset: the pane's own size is the terminal's, as in a person's shell.
        # `trap : INT`: the shell outlives a Ctrl-C meant for the command (which gets it as usual).
        script = f"trap : INT; cd {shlex.quote(str(ROOT))}; env -u COLUMNS -u LINES {exports} {command}; echo EXIT=$?; stty -a; sleep 60"
        self._tmux("new-session", "-d", "-x", str(width), "-y", str(height), "sh", "-c", script)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p")

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout}s:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def alternate_screen(self) -> bool:
        return self._tmux("display", "-p", "#{alternate_on}").strip() == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def panes():
    opened = []

    def open_pane(width: int, height: int, command: str, env: dict) -> Pane:
        pane = Pane(width, height, command, env)
        opened.append(pane)
        return pane

    yield open_pane
    for pane in opened:
        pane.close()


def send(tmp_path, entries: list[dict]) -> None:
    path = tmp_path / "entries.jsonl"
    path.write_bytes(jsonl(entries))
    result = run_logsvc("send", "--file", str(path))
    assert result.returncode == 0, result.stderr


def last_hour_entries() -> list[dict]:
    now = datetime.now(timezone.utc)
    levels = ["info"] * 5 + ["warning"] * 3 + ["error"] * 2
    entries = [{"dateTime": stored_form(now - timedelta(seconds=30 * (k + 1))), "severity": levels[k % 10],
                "message": f"entry {k}"} for k in range(40)]
    entries.append({"dateTime": stored_form(now - timedelta(seconds=5)), "severity": "error", "message": "newest " + LONG})
    return entries


def python(*args: str) -> str:
    return " ".join(shlex.quote(part) for part in (sys.executable, "-m", "logsvc", *args))


@pytest.mark.parametrize("width", [80, 200])
def test_top_shows_newest_entries_sparklines_and_rate_then_q_restores_the_terminal(panes, tmp_path, width):
    import os

    entries = last_hour_entries()
    send(tmp_path, entries)
    pane = panes(width, 30, python("top", "--interval", "0.3"), {"LOGSVC_HOME": os.environ["LOGSVC_HOME"]})
    # A frame is drawn top down and may reach tmux in pieces (more so on a loaded machine): wait for
    # the list's second line, below everything asserted, not for the header alone.
    screen = pane.wait_for("entry 0")
    assert pane.alternate_screen()
    lines = screen.splitlines()
    assert all(len(line) <= width for line in lines)
    totals = {level: sum(1 for e in entries if e["severity"] == level) for level in ("info", "warning", "error")}
    for level, total in totals.items():
        row = next(line for line in lines if line.startswith(level))
        assert row.split()[-1] == str(total)
        assert any(char in row for char in "▁▂▃▄▅▆▇█")
    newest = next(line for line in lines if "newest" in line)
    assert "error" in newest
    if width == 200:
        assert newest.rstrip().endswith(LONG.strip())
    else:
        assert newest.rstrip().endswith("…") and len(newest.rstrip()) == width - 1
    # the list is newest first: "entry 0" (30 s ago) comes right after the newest
    order = [line for line in lines if "entry " in line or "newest" in line]
    assert "newest" in order[0] and order[1].rstrip().endswith("entry 0")
    pane.keys("q")
    after = pane.wait_for("EXIT=0", timeout=10)
    assert not pane.alternate_screen()
    assert " echo " in after.replace("\n", " ") and " icanon " in after.replace("\n", " ")


def test_top_leaves_on_ctrl_c_with_exit_0_and_the_terminal_restored(panes, tmp_path):
    import os

    send(tmp_path, last_hour_entries())
    pane = panes(100, 30, python("top", "--interval", "0.3"), {"LOGSVC_HOME": os.environ["LOGSVC_HOME"]})
    pane.wait_for("entries/min")
    pane.keys("C-c")
    after = pane.wait_for("EXIT=", timeout=10)
    assert "EXIT=0" in after and "Traceback" not in after
    assert not pane.alternate_screen()
    assert " -echo " not in after.replace("\n", " ") and " echo " in after.replace("\n", " ")


def test_top_refuses_without_a_terminal_and_points_at_tail_f():
    result = run_logsvc("top")
    assert result.returncode == 2
    assert b"tail -f" in result.stderr and b"Traceback" not in result.stderr


@pytest.mark.parametrize("width", [80, 200])
def test_stats_chart_in_a_terminal_local_time_labels_and_utc(panes, tmp_path, width):
    import os

    base = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    counts = [(3, 1, 0), (0, 0, 0), (10, 4, 2), (1, 0, 5)]  # info, warning, error per hour
    entries = []
    for hour, triple in enumerate(counts):
        for level, number in zip(("info", "warning", "error"), triple):
            entries += [{"dateTime": stored_form(base + timedelta(hours=hour, minutes=n)), "severity": level,
                         "message": f"{level} {n}"} for n in range(number)]
    send(tmp_path, entries)
    window = ["--since", stored_form(base), "--until", stored_form(base + timedelta(hours=len(counts)))]
    env = {"LOGSVC_HOME": os.environ["LOGSVC_HOME"], "TZ": "Asia/Kolkata"}  # UTC+05:30, no DST
    for flag, shift, zone in (("--local", timedelta(hours=5, minutes=30), "IST"), ("--utc", timedelta(0), "UTC")):
        pane = panes(width, 20, python("stats", *window, flag), env)
        screen = pane.wait_for("EXIT=0")
        lines = screen.splitlines()
        assert all(len(line) <= width for line in lines)
        assert f"entries per 1h, {zone}" in screen
        labels = [(base + shift + timedelta(hours=h)).strftime("%H:%M") for h in range(len(counts))]
        rows = [next(line for line in lines if line.startswith(label)) for label in labels]
        for row, triple in zip(rows, counts):
            assert row.split()[-3:] == [str(n) for n in triple]
        assert "█" not in rows[1] and "░" not in rows[1]  # the empty hour: drawn, no bar
        longest = max(row.count("█") + row.count("▓") + row.count("░") for row in rows)
        assert longest >= width - 30  # the busiest hour fills the width available
        total = sum(map(sum, counts))
        assert f"total {total}" in screen and "error rate" in screen
        pane.close()


def test_export_draws_a_progress_bar_on_a_terminal_and_writes_the_file(panes, tmp_path):
    import json
    import os

    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    entries = [{"dateTime": stored_form(base + timedelta(seconds=7 * n)), "severity": "info", "message": f"e{n}"}
               for n in range(700)]
    send(tmp_path, entries)
    out = tmp_path / "out.jsonl"
    pane = panes(100, 40, python("export", "--since", stored_form(base), "--until", stored_form(base + timedelta(hours=2)),
                                 "--page-size", "100", "--out", str(out)), {"LOGSVC_HOME": os.environ["LOGSVC_HOME"]})
    screen = pane.wait_for("EXIT=0")
    bar = next(line for line in screen.splitlines() if line.startswith("exporting"))
    assert "700 entries" in bar and "━" in bar
    assert [json.loads(line)["message"] for line in out.read_text().splitlines()] == [f"e{n}" for n in range(700)]


def test_top_on_every_target_counts_the_last_hour_and_shows_an_entry_sent_while_it_runs(panes, target, tmp_path):
    import os

    entries = last_hour_entries()
    path = tmp_path / "hour.jsonl"
    path.write_bytes(jsonl(entries))
    assert cli(target.env, "send", "--file", str(path)).exit_code == 0
    pane = panes(120, 30, python("top", "--interval", "0.3"), {"LOGSVC_HOME": os.environ["LOGSVC_HOME"], **target.env})
    screen = pane.wait_for("newest ", timeout=30)  # the list's first line: the rows above it are drawn
    assert f"logsvc top  {target.name}" in screen
    errors = sum(1 for e in entries if e["severity"] == "error")
    assert next(line for line in screen.splitlines() if line.startswith("error")).split()[-1] == str(errors)
    sent = cli(target.env, "send", "-s", "error", "arrived while watching")
    assert sent.exit_code == 0, sent.output
    screen = pane.wait_for("arrived while watching", timeout=30)
    assert next(line for line in screen.splitlines() if line.startswith("error")).split()[-1] == str(errors + 1)
    pane.keys("q")
    pane.wait_for("EXIT=0", timeout=10)
