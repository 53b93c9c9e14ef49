"""Known data for the insight tests (test_insight.py, test_export.py), on every target.

The expected counts and exports are computed here from the entries sent, independently of
logsvc: per one-hour bucket, with entries exactly on bucket edges, a microsecond either side,
one exactly at --until (excluded) and an empty bucket.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.targets_fixtures import (  # noqa: F401 - moto_endpoint is a fixture used by make_target
    Target,
    cli,
    jsonl,
    make_target,
    moto_endpoint,
    stored_form,
)

SEVERITIES = ("info", "warning", "error")
HOURS = 5
EMPTY_BUCKET = 2


@pytest.fixture(params=("local", "url", "dynamodb"))
def target(request, tmp_path) -> Target:
    return make_target(request.param, request, tmp_path)


def window_start() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS + 2)


def known_entries(base: datetime) -> list[dict]:
    """Entries around and inside [base, base + HOURS h); bucket EMPTY_BUCKET gets none."""
    rng = random.Random(11)
    times = [base, base - timedelta(microseconds=1), base + timedelta(hours=1),
             base + timedelta(hours=1) - timedelta(microseconds=1), base + timedelta(hours=3),
             base + timedelta(hours=HOURS), base + timedelta(hours=HOURS) - timedelta(microseconds=1),
             base + timedelta(hours=EMPTY_BUCKET + 1)]
    while len(times) < 70:
        instant = base + timedelta(seconds=rng.uniform(-1800, HOURS * 3600 + 1800))
        if not EMPTY_BUCKET <= (instant - base) / timedelta(hours=1) < EMPTY_BUCKET + 1:
            times.append(instant.replace(microsecond=rng.randrange(1_000_000)))
    entries = []
    for index, instant in enumerate(times):
        entries.append({"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "dateTime": stored_form(instant),
                        "severity": SEVERITIES[rng.randrange(3)] if index else "error",
                        "message": f"{'disk full' if index % 4 == 0 else 'request served'} {index}",
                        "source": "test"})
    return entries


def expected_counts(entries: list[dict], base: datetime, levels=SEVERITIES, grep: str | None = None) -> list[dict]:
    buckets = [dict.fromkeys(levels, 0) for _ in range(HOURS)]
    for entry in entries:
        instant = datetime.fromisoformat(entry["dateTime"])
        if not base <= instant < base + timedelta(hours=HOURS) or entry["severity"] not in levels:
            continue
        if grep and grep not in entry["message"]:
            continue
        buckets[int((instant - base) // timedelta(hours=1))][entry["severity"]] += 1
    return buckets


def in_window(entries: list[dict], base: datetime) -> list[dict]:
    inside = [e for e in entries if base <= datetime.fromisoformat(e["dateTime"]) < base + timedelta(hours=HOURS)]
    return sorted(inside, key=lambda e: (e["dateTime"], e["id"]))


@pytest.fixture
def loaded(target, tmp_path):
    base = window_start()
    entries = known_entries(base)
    path = tmp_path / "known.jsonl"
    path.write_bytes(jsonl(entries))
    result = cli(target.env, "send", "--file", str(path))
    assert result.exit_code == 0, result.output
    window = ("--since", stored_form(base), "--until", stored_form(base + timedelta(hours=HOURS)))
    return target, base, entries, window


def stats_json(target: Target, *args: str) -> dict:
    result = cli(target.env, "stats", "-o", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
