"""`logsvc stats` and `--fail-on` on every target with known data (tests/insight_fixtures.py),
and the read handler's insight modes."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta

import pytest

from logsvc.errors import ExitCode
from tests.insight_fixtures import (  # noqa: F401 - target, loaded and moto_endpoint are fixtures
    EMPTY_BUCKET,
    HOURS,
    SEVERITIES,
    cli,
    expected_counts,
    in_window,
    known_entries,
    loaded,
    moto_endpoint,
    stored_form,
    stats_json,
    target,
    window_start,
)


# -- stats ------------------------------------------------------------------------------------------


def test_stats_counts_every_bucket_exactly_edges_and_empty_buckets_included(loaded):
    target, base, entries, window = loaded
    answer = stats_json(target, *window, "--by", "1h")
    expected = expected_counts(entries, base)
    assert [bucket["counts"] for bucket in answer["buckets"]] == expected
    assert [bucket["start"] for bucket in answer["buckets"]] == [stored_form(base + timedelta(hours=h)) for h in range(HOURS)]
    assert answer["buckets"][EMPTY_BUCKET]["counts"] == dict.fromkeys(SEVERITIES, 0)
    assert expected[0]["error"] >= 1  # the entry exactly at --since counts, in the first bucket
    total = sum(sum(bucket.values()) for bucket in expected)
    assert answer["total"] == total
    errors = sum(bucket["error"] for bucket in expected)
    assert answer["errorRate"] == pytest.approx(errors / total)


def test_stats_30m_buckets_split_the_hours(loaded):
    target, base, entries, window = loaded
    answer = stats_json(target, *window, "--by", "30m")
    assert len(answer["buckets"]) == 2 * HOURS
    pairs = [answer["buckets"][i]["counts"] for i in range(2 * HOURS)]
    merged = [{level: pairs[2 * h][level] + pairs[2 * h + 1][level] for level in SEVERITIES} for h in range(HOURS)]
    assert merged == expected_counts(entries, base)


def test_stats_severity_and_grep_filters(loaded):
    target, base, entries, window = loaded
    answer = stats_json(target, *window, "--severity", "warning")
    assert [bucket["counts"] for bucket in answer["buckets"]] == expected_counts(entries, base, ("warning", "error"))
    answer = stats_json(target, *window, "--grep", "disk full")
    assert [bucket["counts"] for bucket in answer["buckets"]] == expected_counts(entries, base, grep="disk full")


def test_stats_csv_rows(loaded):
    target, base, entries, window = loaded
    result = cli(target.env, "stats", "-o", "csv", *window)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = expected_counts(entries, base)
    assert [{level: int(row[level]) for level in SEVERITIES} for row in rows] == expected
    assert [int(row["total"]) for row in rows] == [sum(bucket.values()) for bucket in expected]


def test_stats_fail_on_exits_7_at_the_threshold_and_0_below(loaded):
    target, base, entries, window = loaded
    errors = sum(bucket["error"] for bucket in expected_counts(entries, base))
    at = cli(target.env, "stats", "-o", "json", *window, "--fail-on", "error", "--threshold", str(errors))
    assert at.exit_code == ExitCode.ALERT == 7, at.output
    assert f"{errors} entries at error" in at.stderr and len(at.stderr.strip().splitlines()) == 1
    below = cli(target.env, "stats", "-o", "json", *window, "--fail-on", "error", "--threshold", str(errors + 1))
    assert below.exit_code == 0, below.output
    worse = sum(b["warning"] + b["error"] for b in expected_counts(entries, base))
    warn = cli(target.env, "stats", "-o", "csv", *window, "--fail-on", "warn", "--threshold", str(worse))
    assert warn.exit_code == 7 and f"{worse} entries at warning or worse" in warn.stderr


def test_recent_fail_on(loaded):
    target, base, entries, window = loaded
    errors = sum(1 for e in in_window(entries, base) if e["severity"] == "error")
    at = cli(target.env, "recent", "-o", "json", *window, "--fail-on", "error", "--threshold", str(errors))
    assert at.exit_code == 7, at.output
    assert len(json.loads(at.stdout)) == len(in_window(entries, base))  # the entries are still shown
    assert cli(target.env, "recent", *window, "--fail-on", "error", "--threshold", str(errors + 1)).exit_code == 0
    bad = cli(target.env, "recent", *window, "--fail-on", "fatal")
    assert bad.exit_code == 2 and "--fail-on" in bad.stderr


def test_a_window_beyond_the_read_budget_is_refused_at_once(target):
    result = cli(target.env, "stats", "--since", "3d", "--by", "1m", "-o", "json")
    if target.name == "dynamodb":  # 4320 buckets x 1 shard x 3 severities of COUNT queries
        assert result.exit_code == 2, result.output
        assert "window too large for the target's read budget" in result.stderr
    else:
        assert result.exit_code == 0, result.output
    result = cli(target.env, "stats", "--since", "30d", "--by", "1s")
    assert result.exit_code == 2 and "read budget" in result.stderr and "Traceback" not in result.output


def test_dynamodb_counts_without_items_and_reports_read_units(loaded):
    target, base, entries, window = loaded
    if target.name != "dynamodb":
        pytest.skip("read units are DynamoDB's")
    answer = stats_json(target, *window)
    assert answer["requests"] == HOURS * 1 * 3  # one COUNT query per bucket, shard and severity
    assert answer["readUnits"] > 0
    result = cli(target.env, "stats", *window)
    assert f"in {HOURS * 3} requests" in result.stdout


def test_stats_chart_rows_labels_and_summary(loaded):
    target, base, entries, window = loaded
    result = cli(target.env, "stats", *window, "--utc", "--color", "never")
    assert result.exit_code == 0, result.output
    expected = expected_counts(entries, base)
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line[:5] in {(base + timedelta(hours=h)).strftime("%H:%M") for h in range(HOURS)}]
    assert len(rows) == HOURS
    for row, bucket in zip(rows, expected):
        assert row.split()[-3:] == [str(bucket[level]) for level in SEVERITIES]
        assert row.count("█") >= (1 if bucket["error"] else 0) and ("█" in row) == bool(bucket["error"])
    assert "▓" not in rows[EMPTY_BUCKET] and "░" not in rows[EMPTY_BUCKET]
    total = sum(sum(bucket.values()) for bucket in expected)
    assert f"total {total}" in lines[-1] and "error rate" in lines[-1]


# -- the read handler's modes, directly -----------------------------------------------------------


def read_event(query: str) -> dict:
    return {"requestContext": {"http": {"method": "GET"}}, "headers": {}, "rawQueryString": query}


@pytest.mark.parametrize("query, problem", [
    ("mode=graph", "mode must be one of"),
    ("mode=stats&by=0s", "by must be a whole number of seconds"),
    ("mode=stats&by=1.5s", "by must be a whole number of seconds"),
    ("mode=stats&by=soon", "by:"),
    ("mode=stats&since=1h&until=2h", "since must be earlier than until"),
    ("mode=stats&limit=5", "unknown query parameter 'limit' for mode stats"),
    ("mode=stats&by=1s&since=30d", "window too large for the read budget"),
    ("mode=stats&severity=fatal", "severity must be one of"),
    ("mode=export&after=yesterday", "after must be dateTime#id"),
    ("mode=export&limit=1001", "limit must be a whole number from 1 to 1000"),
    ("mode=stats&mode=export", "given more than once"),
])
def test_read_handler_modes_answer_400_naming_the_problem(tmp_path, query, problem):
    from logsvc.handler.read import handle
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "h.db")
    try:
        response = handle(read_event(query), store)
    finally:
        store.close()
    assert response["statusCode"] == 400
    assert problem in " ".join(json.loads(response["body"])["errors"])


def test_read_handler_stats_mode_on_dynamodb_counts_with_read_units(moto_endpoint):
    from logsvc.handler.read import handle
    from logsvc.store.dynamodb import DynamoDBStore, create_table, delete_table
    from tests.dynamo_fixtures import new_client

    client = new_client(moto_endpoint)
    table = f"logs-{uuid.uuid4().hex[:12]}"
    create_table(client, table, shards=2)
    store = DynamoDBStore(table, client=new_client(moto_endpoint))
    try:
        base = window_start()
        entries = known_entries(base)
        store.put(entries)
        since, until = stored_form(base), stored_form(base + timedelta(hours=HOURS))
        response = handle(read_event(f"mode=stats&by=1h&since={since}&until={until}".replace("+", "%2B")), store)
        assert response["statusCode"] == 200, response["body"]
        answer = json.loads(response["body"])
        assert [bucket["counts"] for bucket in answer["buckets"]] == expected_counts(entries, base)
        assert answer["requests"] == HOURS * 2 * 3 and answer["readUnits"] > 0
        page = json.loads(handle(read_event(f"mode=export&limit=7&since={since}&until={until}".replace("+", "%2B")),
                                 store)["body"])
        assert page["logs"] == in_window(entries, base)[:7]
        assert page["next"] == f"{page['logs'][-1]['dateTime']}#{page['logs'][-1]['id']}"
    finally:
        store.close()
        delete_table(client, table)
        client.close()


def test_stats_of_a_small_part_of_the_store_is_exact_too(loaded):
    """The local store counts a narrow window through its time index, a wide one by a table scan."""
    target, base, entries, window = loaded
    start, end = base + timedelta(hours=3), base + timedelta(hours=3, minutes=40)
    answer = stats_json(target, "--since", stored_form(start), "--until", stored_form(end), "--by", "10m")
    expected = [dict.fromkeys(SEVERITIES, 0) for _ in range(4)]
    for entry in entries:
        instant = datetime.fromisoformat(entry["dateTime"])
        if start <= instant < end:
            expected[int((instant - start) // timedelta(minutes=10))][entry["severity"]] += 1
    assert [bucket["counts"] for bucket in answer["buckets"]] == expected
    assert expected[0]["error"] >= 1  # the entry exactly at base + 3h


def test_stats_and_export_import_rich_only_to_draw():
    """Import budget: the chart needs Rich; json, csv and an export to a pipe need nothing heavy."""
    from tests.test_imports import heavy_imports

    assert heavy_imports(["stats", "-o", "json"], {}) == set()
    assert heavy_imports(["stats", "-o", "csv", "--since", "1h", "--by", "5m"], {}) == set()
    assert heavy_imports(["stats"], {}) == {"rich"}
    assert heavy_imports(["export", "--since", "1h"], {}) == set()


def test_help_lists_the_insight_commands_in_their_panel():
    import re

    result = cli({}, "--help")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = next(index for index, line in enumerate(lines) if re.match(r"╭─ Insight ", line))
    assert start > next(index for index, line in enumerate(lines) if re.match(r"╭─ Entries ", line))
    names = []
    for line in lines[start + 1:]:
        if line.startswith("╰"):
            break
        if row := re.match(r"│ ([a-z]\S*)\s{2,}", line):
            names.append(row[1])
    assert names == ["stats", "export", "top"]


@pytest.mark.parametrize("with_severity_index", [True, False])
def test_dynamodb_counts_warning_and_error_on_the_sparse_index_and_without_it(moto_endpoint, with_severity_index):
    """Counting reads the window once on ByTime, warnings and errors on BySeverity; a table made
    before BySeverity existed is counted exactly too, by severity filters on ByTime."""
    from collections import Counter

    from logsvc import stats
    from logsvc.store import Query
    from logsvc.store.dynamodb import DynamoDBStore, create_table, delete_table
    from logsvc.store.dynamodb import SETTINGS_ID, table_definition
    from tests.dynamo_fixtures import new_client

    client = new_client(moto_endpoint)
    table = f"logs-{uuid.uuid4().hex[:12]}"
    if with_severity_index:
        create_table(client, table, shards=2)
    else:  # as `table create` made it before BySeverity existed
        definition = table_definition(table)
        definition["GlobalSecondaryIndexes"] = [index for index in definition["GlobalSecondaryIndexes"]
                                                if index["IndexName"] == "ByTime"]
        definition["AttributeDefinitions"] = [attribute for attribute in definition["AttributeDefinitions"]
                                              if attribute["AttributeName"] != "SevShard"]
        client.create_table(**definition)
        client.put_item(TableName=table, Item={"LogID": {"S": SETTINGS_ID}, "Shards": {"N": "2"}})
    store_client = new_client(moto_endpoint)
    used: Counter = Counter()
    store_client.meta.events.register("provide-client-params.dynamodb.Query",
                                      lambda params, **_: used.update([(params["IndexName"], params.get("Select"))]))
    store = DynamoDBStore(table, client=store_client)
    try:
        base = window_start()
        entries = known_entries(base)
        store.put(entries)
        used.clear()
        edges = stats.bucket_edges(base, base + timedelta(hours=HOURS), timedelta(hours=1))
        counts = stats.count(store, Query(), edges)
        assert counts.buckets == expected_counts(entries, base)
        queries = HOURS * 2  # buckets x shards
        if with_severity_index:
            assert used == {("ByTime", "COUNT"): queries, ("BySeverity", "COUNT"): 2 * queries}
        else:
            assert used == {("ByTime", "COUNT"): 3 * queries, ("BySeverity", "COUNT"): 1}  # one probe, refused
        errors_only = stats.count(store, Query(min_severity="error"), edges)
        assert errors_only.buckets == expected_counts(entries, base, ("error",))
    finally:
        store.close()
        delete_table(client, table)
        client.close()


def test_url_target_over_a_dynamodb_service_relays_the_read_budget_refusal(moto_endpoint):
    """The service counts with its own store: its DynamoDB read budget comes back as a usage error."""
    from logsvc.serve import LocalServer
    from logsvc.store.dynamodb import DynamoDBStore, create_table, delete_table
    from tests.dynamo_fixtures import new_client

    client = new_client(moto_endpoint)
    table = f"logs-{uuid.uuid4().hex[:12]}"
    create_table(client, table, shards=2)
    server = LocalServer(DynamoDBStore(table, client=new_client(moto_endpoint))).start()
    env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": server.ingest_url, "LOGSVC_READ_URL": server.read_url}
    try:
        refused = cli(env, "stats", "--since", "1d", "--by", "1m")  # 1440 buckets x 2 shards x 3
        assert refused.exit_code == 2, refused.output
        assert "window too large for the target's read budget" in refused.stderr and "COUNT queries" in refused.stderr
        answer = json.loads(cli(env, "stats", "--since", "1d", "-o", "json").stdout)
        assert answer["requests"] == len(answer["buckets"]) * 2 * 3 and answer["total"] == 0
    finally:
        server.stop()
        delete_table(client, table)
        client.close()
