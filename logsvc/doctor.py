"""`logsvc doctor`: checks the active profile end to end and reports each step.

Yields `Check`s and prints nothing. Each step runs only if the ones it needs passed.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Iterator

from logsvc.errors import LogsvcError
from logsvc.store import Query, StoreFailure


CANARY_AGE = timedelta(days=400)  # below anything `recent` shows on a table in use; past most retentions


class Check:
    """One line of the report: ok True (passed), False (failed) or None (skipped)."""

    def __init__(self, name: str, ok: bool | None, detail: str, hint: str | None = None) -> None:
        self.name = name
        self.ok = ok
        self.detail = detail
        self.hint = hint


def run_checks(settings, *, canary: bool = True, read_back_seconds: float = 10.0) -> Iterator[Check]:
    from logsvc.targets import open_store

    target = settings["target"]
    yield Check("configuration", True, f"profile {settings.profile}, target {target}")
    if target == "dynamodb" or (target == "url" and settings["auth"] == "iam"):
        check = _credentials(settings)
        yield check
        if not check.ok:
            return
    try:
        backend = open_store(settings)
    except LogsvcError as exc:
        yield Check("reach", False, exc.message, exc.hint())
        return
    try:
        try:
            backend.recent(Query(limit=1))
        except (LogsvcError, StoreFailure) as exc:
            yield _failed("reach", exc)
            return
        yield Check("reach", True, _where(settings))
        if target == "dynamodb":
            yield _severity_index(settings)
        if not canary:
            yield Check("canary", None, "skipped (--no-canary)")
            return
        yield _canary(backend, read_back_seconds, settings)
    finally:
        backend.close()


def _credentials(settings) -> Check:
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        session = botocore.session.Session(profile=settings["aws_profile"])
        found = session.get_credentials()
        region = settings["region"] or session.get_config_variable("region")
    except BotoCoreError as exc:
        return Check("credentials", False, str(exc), "check AWS_PROFILE and ~/.aws/config")
    if found is None:
        return Check("credentials", False, "no AWS credentials found", "run `aws configure` or `aws sso login`")
    detail = f"{found.method} credentials, region {region or '(none)'}"
    if not region and settings["target"] == "dynamodb":
        return Check("credentials", False, detail, "set AWS_REGION or `logsvc config set region REGION`")
    return Check("credentials", True, detail)


def _where(settings) -> str:
    target = settings["target"]
    if target == "local":
        return str(settings.store_path())
    if target == "url":
        return f"{settings['read_url']} (auth {settings['auth']})"
    return f"table {settings['table']}"


def _severity_index(settings) -> Check:
    """Whether the table has the sparse severity index (a table made by an older version may not)."""
    from logsvc.aws import dynamodb_client, translate
    from logsvc.store.dynamodb.upgrade import UPGRADE_HINT, severity_index_status

    try:
        with translate(settings["table"]):
            status = severity_index_status(dynamodb_client(settings), settings["table"])
    except LogsvcError as exc:  # e.g. no dynamodb:DescribeTable: say so, it is not an outage
        return Check("severity index", None, f"not checked ({exc.message})")
    if status is None:
        return Check("severity index", False, "the table has no BySeverity index",
                     UPGRADE_HINT.format(table=settings["table"]))
    return Check("severity index", True, f"BySeverity {status.lower()}")


def _canary(backend, read_back_seconds: float, settings=None) -> Check:
    """Write a canary and read it back by its time and id, then remove it where the target allows.

    The read asks for the canary's exact microsecond (`since` = its time, `until` one microsecond
    later): every store reads only entries at that instant, so the check costs the same on an
    empty table and on a huge one. The canary is dated `CANARY_AGE` in the past, so it is never
    part of a tail and sorts below the entries `recent` shows on any table with recent activity;
    on the dynamodb target it is deleted afterwards (with retention on, TTL removes it elsewhere).
    """
    from logsvc.entry import new_id, normalise
    from logsvc.times import format_utc, now_utc

    entry_id = new_id()
    at = now_utc() - CANARY_AGE
    entry = normalise({"id": entry_id, "severity": "info", "dateTime": format_utc(at),
                       "message": f"logsvc doctor canary {entry_id} (safe to ignore)", "source": "logsvc-doctor"})
    exact = Query(limit=10, since=entry["dateTime"],
                  until=format_utc(datetime.fromisoformat(entry["dateTime"]) + timedelta(microseconds=1)))
    started = time.monotonic()
    try:
        backend.put([entry])
        # Indexes may be eventually consistent: look again for a few seconds.
        while True:
            found = backend.recent(exact).entries
            if any(item["id"] == entry["id"] for item in found):
                elapsed = time.monotonic() - started
                return Check("canary", True, f"written and read back in {elapsed * 1000:.0f} ms{_remove(settings, entry)}")
            if time.monotonic() - started > read_back_seconds:
                return Check("canary", False, f"written, but not read back within {read_back_seconds:.0f} s",
                             "the read URL may point at another table than the ingest URL")
            time.sleep(0.5)
    except (LogsvcError, StoreFailure) as exc:
        return _failed("canary", exc)


def _remove(settings, entry: dict) -> str:
    """Delete the canary on the dynamodb target; what happened, as the end of the check's line."""
    if settings is None or settings["target"] != "dynamodb":
        return f"; left dated {entry['dateTime'][:10]}"
    from logsvc.aws import dynamodb_client, translate

    try:
        with translate(settings["table"]):
            dynamodb_client(settings).delete_item(TableName=settings["table"], Key={"LogID": {"S": entry["id"]}})
    except LogsvcError as exc:
        return f"; not deleted ({exc.message})"
    return ", then deleted"


def _failed(name: str, exc: Exception) -> Check:
    if isinstance(exc, LogsvcError):
        return Check(name, False, exc.message, exc.hint())
    from logsvc.errors import from_store_failure

    error = from_store_failure(exc)
    return Check(name, False, error.message, error.hint())
