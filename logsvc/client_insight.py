"""Bucket counts and time-ordered pages over the url target: the read URL's ``mode`` requests.

The service counts and pages with its own store (`logsvc.handler.stats`), so counting a day of
entries is one small request, not a download of the day.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from logsvc.client import FunctionUrlStore, _json
from logsvc.errors import InvalidInputError, UsageError
from logsvc.store import Query


def _url(store: FunctionUrlStore, params: list[tuple[str, str]]) -> str:
    base = store._need(store.read_url, "read_url")
    return f"{base}?{urlencode(params, quote_via=quote, safe='')}"


def _filters(query: Query, what: str) -> list[tuple[str, str]]:
    if query.regex is not None:
        raise UsageError(f"--regex cannot be {what} on the url target", hint="use --grep TEXT")
    params = []
    if query.min_severity:
        params.append(("severity", query.min_severity))
    if query.grep:
        params.append(("grep", query.grep))
    return params


def count_by_bucket(store: FunctionUrlStore, query: Query, edges: list[str]):
    from logsvc.stats import Counts, ReadBudgetExceeded, levels_of

    params = [("mode", "stats"), ("by", str(edges.width)), ("since", edges[0]), ("until", edges[-1]), *_filters(query, "counted")]
    try:
        answer = _json(store._request("GET", _url(store, params)))
    except InvalidInputError as exc:
        if "read budget" in exc.message:
            raise ReadBudgetExceeded(exc.message.split("read budget: ", 1)[-1]) from None
        if "mode" in exc.message:
            raise InvalidInputError(f"{exc.message} (the service predates `logsvc stats`: redeploy it)") from None
        raise
    from logsvc.errors import StoreError

    try:
        counts = Counts.from_dict(answer, levels_of(query.min_severity))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise StoreError("the service answered with something that is not counts",
                         hint="check that the read URL is a logsvc Function URL") from None
    if counts.edges != edges:
        raise StoreError("the service answered with other buckets than asked for")
    return counts


def page_after(store: FunctionUrlStore, query: Query, after: str | None) -> tuple[list[dict], str | None]:
    """A page of up to `query.limit` entries after `after`, and the service's ``next``.

    The service may answer with fewer (a response must fit Lambda's 6 MB; a read stops at its
    scan budget): ask on from its ``next`` until the page is full or the window exhausted.
    """
    base = [("mode", "export"), ("limit", str(min(query.limit, 1000)))]
    if query.since:
        base.append(("since", query.since))
    if query.until:
        base.append(("until", query.until))
    base += _filters(query, "exported")
    logs: list[dict] = []
    while True:
        params = base + ([("after", after)] if after else [])
        answer = _json(store._request("GET", _url(store, params)))
        logs += answer.get("logs", [])
        after = answer.get("next")
        if after is None or len(logs) >= query.limit:
            return logs, after

