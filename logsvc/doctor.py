"""`logsvc doctor`: checks the active profile end to end and reports each step.

Yields `Check`s and prints nothing. Each step runs only if the ones it needs passed.
"""

from __future__ import annotations

import time
from typing import Iterator

from logsvc.errors import LogsvcError
from logsvc.store import Query, StoreFailure


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
        if not canary:
            yield Check("canary", None, "skipped (--no-canary)")
            return
        yield _canary(backend, read_back_seconds)
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


def _canary(backend, read_back_seconds: float) -> Check:
    from logsvc.entry import new_id, normalise

    marker = f"logsvc doctor canary {new_id()}"
    entry = normalise({"severity": "info", "message": marker, "source": "logsvc-doctor"})
    started = time.monotonic()
    try:
        backend.put([entry])
        # Indexes may be eventually consistent: look again for a few seconds.
        while True:
            found = backend.recent(Query(limit=10, grep=marker)).entries
            if any(item["id"] == entry["id"] for item in found):
                elapsed = time.monotonic() - started
                return Check("canary", True, f"written and read back in {elapsed * 1000:.0f} ms")
            if time.monotonic() - started > read_back_seconds:
                return Check("canary", False, f"written, but not read back within {read_back_seconds:.0f} s",
                             "the read URL may point at another table than the ingest URL")
            time.sleep(0.5)
    except (LogsvcError, StoreFailure) as exc:
        return _failed("canary", exc)


def _failed(name: str, exc: Exception) -> Check:
    if isinstance(exc, LogsvcError):
        return Check(name, False, exc.message, exc.hint())
    from logsvc.errors import from_store_failure

    error = from_store_failure(exc)
    return Check(name, False, error.message, error.hint())
