"""Counting entries per severity per time bucket, on every target, without reading the entries.

A window [since, until) is cut into buckets of `width` seconds aligned to the epoch (so 1h buckets
start on the hour, UTC); `since` is rounded down to a bucket edge so the first bucket is whole,
and the last bucket ends at `until`. An entry exactly on an edge belongs to the bucket it starts.

Each target counts in its own way (`count`): the local store with one GROUP BY query,
DynamoDB with ``Select=COUNT`` queries per shard over each bucket's key range (no items
transferred; read units summed from ``ReturnConsumedCapacity``), the url target by asking the
read handler's ``stats`` mode. A window needing more reads than the target's budget is refused
up front (`ReadBudgetExceeded`) rather than left running for minutes.

Stdlib only: the read handler uses it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from logsvc.entry import SEVERITIES, at_least
from logsvc.store import Query
from logsvc.times import UTC, format_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BUCKETS = 5000  # any target: more is no longer a chart, and a typo such as --by 1s over 30d
MAX_DYNAMODB_QUERIES = 3000  # buckets x shards x severities: about a minute of sequential queries


class ReadBudgetExceeded(ValueError):
    """The window needs more reads than the target allows; the message says how many."""


class Counts:
    """Counts per severity for each bucket, and what the counting cost (DynamoDB: requests, read units)."""

    __slots__ = ("edges", "levels", "buckets", "requests", "read_units")

    def __init__(self, edges: list[str], levels: tuple[str, ...], buckets: list[dict[str, int]],
                 requests: int = 0, read_units: float | None = None) -> None:
        self.edges = edges  # len(buckets) + 1 stored-form times
        self.levels = levels
        self.buckets = buckets
        self.requests = requests
        self.read_units = read_units

    def totals(self) -> dict[str, int]:
        return {level: sum(bucket[level] for bucket in self.buckets) for level in self.levels}

    def total(self) -> int:
        return sum(self.totals().values())

    def at_least(self, level: str) -> int:
        """Entries in the window at `level` or worse."""
        return sum(count for name, count in self.totals().items() if name in at_least(level))

    def error_rate(self) -> float | None:
        total = self.total()
        return None if not total or "error" not in self.levels else self.totals()["error"] / total

    def as_dict(self) -> dict:
        """The JSON form: the CLI's `-o json` and the read handler's answer."""
        out = {
            "since": self.edges[0],
            "until": self.edges[-1],
            "buckets": [{"start": start, "end": end, "counts": dict(bucket)}
                        for start, end, bucket in zip(self.edges, self.edges[1:], self.buckets)],
            "totals": self.totals(),
            "total": self.total(),
            "errorRate": self.error_rate(),
            "requests": self.requests,
        }
        if self.read_units is not None:
            out["readUnits"] = self.read_units
        return out

    @classmethod
    def from_dict(cls, data: dict, levels: tuple[str, ...]) -> "Counts":
        buckets = data["buckets"]
        edges = [bucket["start"] for bucket in buckets] + [data["until"]] if buckets else [data["since"], data["until"]]
        counts = [{level: int(bucket["counts"].get(level, 0)) for level in levels} for bucket in buckets]
        return cls(edges, levels, counts, int(data.get("requests", 0)), data.get("readUnits"))


class Edges(list):
    """Stored-form bucket edges, and the bucket width in seconds (the last bucket may be shorter)."""

    width: int = 0


def bucket_edges(since: datetime, until: datetime, width: timedelta) -> Edges:
    """Edges of the buckets covering [since, until): aligned to the epoch, the last one `until`."""
    seconds = width.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise ValueError("the bucket width must be a whole number of seconds, at least 1s")
    if since >= until:
        raise ValueError("since must be earlier than until")
    step = int(seconds)
    first = (since - _EPOCH) // timedelta(seconds=step)
    last = -((_EPOCH - until) // timedelta(seconds=step))  # ceiling
    if last - first > MAX_BUCKETS:
        raise ReadBudgetExceeded(f"{last - first} buckets is too many (at most {MAX_BUCKETS})")
    edges = Edges(format_utc(_EPOCH + timedelta(seconds=step * index)) for index in range(first, last))
    edges.append(format_utc(until))
    edges.width = step
    return edges


def levels_of(min_severity: str | None) -> tuple[str, ...]:
    return tuple(at_least(min_severity)) if min_severity else SEVERITIES


def count(store, query: Query, edges: list[str]) -> Counts:
    """Counts per bucket of the entries matching `query` (its since/until are taken from `edges`)."""
    query = Query(limit=1, min_severity=query.min_severity, since=edges[0], until=edges[-1],
                  grep=query.grep, regex=query.regex)
    return store.count_by_bucket(query, edges)


def bucket_index(edges: list[str], date_time: str) -> int | None:
    """The bucket holding `date_time` (for stores that count in Python), or None if outside."""
    from bisect import bisect_right

    if date_time < edges[0] or date_time >= edges[-1]:
        return None
    return bisect_right(edges, date_time) - 1
