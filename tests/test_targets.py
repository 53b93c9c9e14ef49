"""One contract, every target: local, url, url-iam and dynamodb give the same observable results.

Each case drives the real CLI (CliRunner in-process, and real subprocesses where processes
matter) against real components on loopback, and checks what the backend holds by reading it
back directly (SQL on the SQLite file, a consistent scan of the DynamoDB table), not through
logsvc. Expected values are computed here, independently of logsvc's own normalisation.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta, timezone

import pytest

from logsvc.errors import ExitCode
from tests.conftest import run_logsvc
from tests.targets_fixtures import (  # noqa: F401 - fixtures are used by name
    Target,
    assert_exactly_once,
    cli,
    duplicates,
    host_name,
    iam_env,
    jsonl,
    make_entries,
    make_target,
    moto_endpoint,
    now,
    procs,
    recent_json,
    remote_target,
    spooled_count,
    stored_form,
    target,
    with_host,
)

STORED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def ids(entries: list[dict]) -> list[str]:
    return [entry["id"] for entry in entries]


def send_file(target: Target, tmp_path, entries: list[dict], name: str = "input.jsonl", *extra: str):
    path = tmp_path / name
    path.write_bytes(jsonl(entries))
    return cli(target.env, "send", "--file", str(path), *extra)


# -- send and read back ---------------------------------------------------------------------------


def test_nothing_sent_reads_as_empty(target):
    assert recent_json(target) == []
    result = cli(target.env, "tail", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_send_one_entry_then_recent_shows_it_normalised(target):
    entry_id = str(uuid.uuid4())
    result = cli(target.env, "send", "-s", "WARN", "--id", entry_id.upper(), "--time", "2026-01-02T03:04:05.5+02:00",
                 "-o", "json", "disk almost full")
    assert result.exit_code == 0, result.output
    expected = {"id": entry_id, "dateTime": "2026-01-02T01:04:05.500000+00:00", "severity": "warning",
                "message": "disk almost full", "source": host_name()}
    assert json.loads(result.stdout) == expected
    assert recent_json(target) == [expected]
    assert target.stored() == [expected]


def test_send_from_a_real_process_fills_id_time_and_source(target):
    before = stored_form(now())
    result = run_logsvc("send", "--severity", "err", "--source", "web-1", "backend timeout", env=target.env)
    assert result.returncode == 0, result.stderr
    entry_id = result.stdout.decode().strip()
    assert str(uuid.UUID(entry_id)) == entry_id
    [stored] = target.stored()
    assert stored["id"] == entry_id
    assert stored["severity"] == "error" and stored["message"] == "backend timeout" and stored["source"] == "web-1"
    assert STORED_TIME.match(stored["dateTime"]) and before <= stored["dateTime"] <= stored_form(now())
    assert recent_json(target) == [stored]


# -- bulk -------------------------------------------------------------------------------------------


def test_send_file_of_1200_lines_stores_each_exactly_once(target, tmp_path):
    raw, expected = make_entries(1200, prefix="bulk")
    result = send_file(target, tmp_path, raw)
    assert result.exit_code == 0, result.output
    assert "stored 1200" in result.stderr and "already" not in result.stderr
    assert_exactly_once(target.stored(), with_host(expected))
    newest = recent_json(target, "--limit", "1000")
    assert ids(newest) == ids(sorted(expected, key=lambda e: (e["dateTime"], e["id"]), reverse=True))[:1000]


def test_send_file_with_invalid_lines_exits_3_and_stores_nothing(target, tmp_path):
    raw, _ = make_entries(1200, prefix="bulk")
    lines = jsonl(raw).splitlines(keepends=True)
    lines[699] = b'{"severity": "fatal", "message": "bad level"}\n'  # line 700
    lines[1099] = b"not json at all\n"  # line 1100
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    result = cli(target.env, "send", "--file", str(path))
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert "line 700" in result.stderr and "line 1100" in result.stderr
    assert "2 invalid lines; nothing was stored" in result.stderr
    assert target.stored() == []
    assert recent_json(target) == []
    if target.remote:
        assert spooled_count(target) == 0


def test_replaying_a_file_stores_nothing_twice(target, tmp_path):
    raw, expected = make_entries(1200, prefix="replay")
    first = send_file(target, tmp_path, raw)
    assert first.exit_code == 0, first.output
    again = send_file(target, tmp_path, raw)
    assert again.exit_code == 0, again.output
    assert "stored 0, already stored 1200" in again.stderr
    # Half old, half new: only the new ones are stored.
    more_raw, more_expected = make_entries(300, prefix="more")
    mixed = send_file(target, tmp_path, raw[:600] + more_raw, "mixed.jsonl")
    assert mixed.exit_code == 0, mixed.output
    assert "stored 300, already stored 600" in mixed.stderr
    assert_exactly_once(target.stored(), with_host(expected + more_expected))


def test_an_id_stored_with_other_content_is_refused_and_keeps_its_content(target, tmp_path):
    raw, expected = make_entries(3, prefix="orig")
    assert send_file(target, tmp_path, raw).exit_code == 0
    changed = dict(raw[1], message="rewritten")
    result = cli(target.env, "send", "--id", raw[1]["id"], "--time", raw[1]["dateTime"], "-s", "warning",
                 "rewritten")
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert "different content" in result.stderr
    bulk = send_file(target, tmp_path, [changed], "changed.jsonl")
    assert bulk.exit_code == ExitCode.INVALID_INPUT, bulk.output
    assert_exactly_once(target.stored(), with_host(expected))


@pytest.mark.parametrize("name", ["local", "dynamodb", "url", "url-iam"])
def test_recent_regex_finds_a_match_older_than_the_newest_1000(name, request, tmp_path):
    target = make_target(name, request, tmp_path)
    raw, expected = make_entries(1200, prefix="haystack")
    raw[0]["message"] = expected[0]["message"] = "needle 42"  # the oldest entry
    raw[1]["message"] = expected[1]["message"] = "needle x"
    assert send_file(target, tmp_path, raw).exit_code == 0
    assert [e["message"] for e in recent_json(target, "--grep", "needle")] == ["needle x", "needle 42"]
    assert [e["message"] for e in recent_json(target, "--grep", r"needle \d+", "--regex")] == ["needle 42"]


@pytest.mark.parametrize("name", ["local", "url", "dynamodb"])
def test_a_conflict_in_a_later_batch_stores_nothing_or_says_what_was_stored(name, request, tmp_path):
    target = make_target(name, request, tmp_path)
    raw, expected = make_entries(10, prefix="orig")
    assert send_file(target, tmp_path, raw).exit_code == 0
    more, _ = make_entries(1000, prefix="more")
    result = send_file(target, tmp_path, more + [dict(raw[5], message="changed")], "conflict.jsonl")
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert "different content" in result.stderr
    stored_by_this_send = len(target.stored()) - len(expected)
    assert stored_by_this_send == 0 or f"{stored_by_this_send} entr" in result.stderr or (
        f"stored {stored_by_this_send}" in result.stderr), result.stderr


# -- recent filters and tail ---------------------------------------------------------------------------

# (minutes before the base, severity, message): twelve entries a minute apart.
DATASET = [
    (11, "info", "service started"),
    (10, "warning", "disk 80% full"),
    (9, "info", "request ok"),
    (8, "error", "disk write failed"),
    (7, "info", "request ok"),
    (6, "warning", "slow response 2.1s"),
    (5, "error", "upstream timeout"),
    (4, "info", "disk check passed"),
    (3, "warning", "disk 90% full"),
    (2, "info", "request ok"),
    (1, "error", "disk full"),
    (0, "info", "service healthy"),
]


@pytest.fixture
def dataset(target, tmp_path):
    """The twelve DATASET entries stored on the target; returns (entries oldest first, base time)."""
    base = now().replace(microsecond=0) - timedelta(minutes=3)
    raw, expected = [], []
    for minutes, severity, message in DATASET:
        instant = base - timedelta(minutes=minutes)
        entry_id = str(uuid.uuid4())
        raw.append({"id": entry_id, "dateTime": instant.strftime("%Y-%m-%dT%H:%M:%SZ"), "severity": severity,
                    "message": message, "source": "app"})
        expected.append({"id": entry_id, "dateTime": stored_form(instant), "severity": severity,
                         "message": message, "source": "app"})
    result = send_file(target, tmp_path, raw, "dataset.jsonl")
    assert result.exit_code == 0, result.output
    return expected, base


def newest_first(entries):
    return sorted(entries, key=lambda e: e["dateTime"], reverse=True)


def test_recent_filters_give_the_same_entries(target, dataset):
    entries, base = dataset
    rank = {"info": 0, "warning": 1, "error": 2}
    assert recent_json(target) == newest_first(entries)
    assert recent_json(target, "--severity", "warning") == [e for e in newest_first(entries) if rank[e["severity"]] >= 1]
    assert recent_json(target, "--severity", "ERR") == [e for e in newest_first(entries) if e["severity"] == "error"]
    assert recent_json(target, "--limit", "3") == newest_first(entries)[:3]
    assert recent_json(target, "--grep", "disk") == [e for e in newest_first(entries) if "disk" in e["message"]]
    assert recent_json(target, "--grep", "no such text") == []

    since = base - timedelta(minutes=8)  # inclusive: "disk write failed" is exactly at since
    until = base - timedelta(minutes=3)  # exclusive: "disk 90% full" is exactly at until
    window = [e for e in newest_first(entries) if stored_form(since) <= e["dateTime"] < stored_form(until)]
    assert [e["message"] for e in window] == ["disk check passed", "upstream timeout", "slow response 2.1s",
                                              "request ok", "disk write failed"]
    assert recent_json(target, "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "--until", until.astimezone(timezone(timedelta(hours=-5))).isoformat()) == window
    combined = recent_json(target, "--severity", "warning", "--grep", "disk", "--limit", "2",
                           "--since", since.isoformat())
    assert [e["message"] for e in combined] == ["disk full", "disk 90% full"]


def test_tail_shows_the_last_entries_oldest_first(target, dataset):
    entries, _ = dataset
    result = cli(target.env, "tail", "-n", "5", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == entries[-5:]
    raw = cli(target.env, "tail", "-n", "3", "-o", "raw", "--utc")
    assert raw.exit_code == 0, raw.output
    assert [line.split()[-2:] for line in raw.stdout.splitlines()] == [["request", "ok"], ["disk", "full"],
                                                                        ["service", "healthy"]]


# -- following --------------------------------------------------------------------------------------


def test_tail_follow_sees_entries_sent_by_other_processes_exactly_once(target, tmp_path, procs):
    seed = cli(target.env, "send", "seed")
    assert seed.exit_code == 0, seed.output
    follower = procs(target.env, "tail", "-f", "-n", "1", "-o", "jsonl", "--interval", "0.1", "--max-entries", "6")
    follower.wait_for(lambda: len(follower.out) >= 1, 30, "the seed entry")  # the follower has its cursor now
    sent = []
    for number in range(3):
        result = run_logsvc("send", "-s", "warning", f"live {number}", env=target.env)
        assert result.returncode == 0, result.stderr
        sent.append(result.stdout.decode().strip())
    batch = [{"id": str(uuid.uuid4()), "severity": "info", "message": f"batch {n}"} for n in range(3)]
    (tmp_path / "batch.jsonl").write_bytes(jsonl(batch))
    result = run_logsvc("send", "--file", str(tmp_path / "batch.jsonl"), env=target.env)
    assert result.returncode == 0, result.stderr
    assert follower.wait(30) == 0, follower.err
    seen = follower.entries()
    assert seen[0]["message"] == "seed"
    assert ids(seen[1:4]) == sent  # sent one after another: arrival order
    assert sorted(ids(seen[4:])) == sorted(e["id"] for e in batch)
    assert not duplicates(seen) and len(seen) == 7
    assert_exactly_once(target.stored(), seen)


def test_tail_follow_cursor_file_resumes_with_exactly_the_new_entries(target, tmp_path):
    cursor = tmp_path / "tail.cursor"
    follow = ("tail", "-f", "--cursor", str(cursor), "--idle-timeout", "1s", "--interval", "0.1", "-o", "jsonl")
    first_ids = []
    for number in range(3):
        result = cli(target.env, "send", f"first {number}")
        assert result.exit_code == 0, result.output
        first_ids.append(result.stdout.strip())
    first = cli(target.env, *follow)
    assert first.exit_code == 0, first.output
    assert [json.loads(line)["id"] for line in first.stdout.splitlines()] == first_ids
    assert cursor.read_text().strip()

    later_ids = [cli(target.env, "send", "-s", "error", "second 0").stdout.strip()]
    batch = [{"id": str(uuid.uuid4()), "severity": "info", "message": f"second {n}"} for n in range(1, 4)]
    assert send_file(target, tmp_path, batch, "second.jsonl").exit_code == 0
    later_ids += [entry["id"] for entry in batch]
    later_ids.append(cli(target.env, "send", "second 4").stdout.strip())

    second = cli(target.env, *follow)
    assert second.exit_code == 0, second.output
    got = [json.loads(line)["id"] for line in second.stdout.splitlines()]
    assert got[0] == later_ids[0] and got[-1] == later_ids[-1]
    assert sorted(got) == sorted(later_ids) and len(got) == len(later_ids)

    third = cli(target.env, *follow)
    assert third.exit_code == 0, third.output
    assert third.stdout == ""


# -- an unreachable target: spool, status, flush ----------------------------------------------------------


def test_unreachable_target_spools_then_flush_delivers_exactly_once(remote_target, tmp_path):
    target = remote_target
    target.down()
    one = run_logsvc("send", "-s", "error", "while down", env=target.env)
    assert one.returncode == ExitCode.SPOOLED, one.stderr
    assert b"1 entry kept in the spool" in one.stderr
    raw, expected = make_entries(700, prefix="down")
    bulk = send_file(target, tmp_path, raw)
    assert bulk.exit_code == ExitCode.SPOOLED, bulk.output
    assert "700 entries kept in the spool" in bulk.stderr
    assert spooled_count(target) == 701
    assert target.stored() == []

    still_down = cli(target.env, "flush")  # a flush that cannot deliver keeps everything
    assert still_down.exit_code == ExitCode.UNAVAILABLE, still_down.output
    assert "delivered 0, 701 still spooled" in still_down.stderr
    assert spooled_count(target) == 701

    target.up()
    flushed = cli(target.env, "flush")
    assert flushed.exit_code == 0, flushed.output
    assert "delivered 701, 0 still spooled" in flushed.stderr
    assert spooled_count(target) == 0
    stored = target.stored()
    [single] = [entry for entry in stored if entry["message"] == "while down"]
    assert single["severity"] == "error" and single["source"] == host_name()
    assert_exactly_once(stored, with_host(expected) + [single])
    assert len(recent_json(target, "--limit", "1000")) == 701
    again = cli(target.env, "flush")
    assert again.exit_code == 0 and "nothing to flush" in again.stderr
    assert len(target.stored()) == 701


# -- url-iam: credentials -------------------------------------------------------------------------------


def test_a_403_without_a_reason_as_aws_sends_it_says_check_the_credentials():
    """Real Function URLs answer `{"Message": "Forbidden"}` with no reason: then the hint is IAM auth."""
    import httpx

    from logsvc.client import _raise_for_status
    from logsvc.errors import StoreError

    request = httpx.Request("POST", "https://abc.lambda-url.eu-west-1.on.aws/")
    response = httpx.Response(403, json={"Message": "Forbidden"}, request=request)
    with pytest.raises(StoreError) as raised:
        _raise_for_status(response)
    assert raised.value.message == "403: not authorised — check your AWS credentials"
    assert "auth = iam" in raised.value.hint()


@pytest.fixture
def iam_target(request, tmp_path) -> Target:
    return make_target("url-iam", request, tmp_path)


@pytest.mark.parametrize("who", ["wrong secret", "unsigned"])
def test_url_iam_refuses_bad_or_missing_signatures_with_exit_4(iam_target, tmp_path, who):
    # the server's own reason comes through, not a generic "not authorised"
    FORBIDDEN = "403 from 127.0.0.1:"
    FORBIDDEN_WHY = "signature does not match" if who == "wrong secret" else "missing Authorization header"
    env = dict(iam_target.env)
    if who == "wrong secret":
        env.update(iam_env(secret="not-the-secret"))
    else:
        env["LOGSVC_AUTH"] = None
    sent = cli(env, "send", "hello")
    assert sent.exit_code == ExitCode.UNAVAILABLE, sent.output
    assert FORBIDDEN in sent.stderr and FORBIDDEN_WHY in sent.stderr
    raw, _ = make_entries(3)
    (tmp_path / "three.jsonl").write_bytes(jsonl(raw))
    bulk = cli(env, "send", "--file", str(tmp_path / "three.jsonl"))
    assert bulk.exit_code == ExitCode.UNAVAILABLE and FORBIDDEN_WHY in bulk.stderr
    read = cli(env, "recent")
    assert read.exit_code == ExitCode.UNAVAILABLE and FORBIDDEN_WHY in read.stderr
    if who == "wrong secret":
        process = run_logsvc("tail", env={k: v for k, v in env.items() if v is not None})
        assert process.returncode == ExitCode.UNAVAILABLE
        assert FORBIDDEN_WHY in process.stderr.decode()
    assert iam_target.stored() == []
    assert spooled_count(iam_target) == 0  # refused is not unreachable: nothing waits for a retry
    good = cli(iam_target.env, "send", "hello")
    assert good.exit_code == 0, good.output
