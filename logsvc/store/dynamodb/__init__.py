"""The DynamoDB store: one table, a sharded time index, exactly-once tailing over it.

`DynamoDBStore` combines one module per concern:

- `schema`: the table layout (`table_definition`), creating and deleting the table, the settings
  item, `shard_of`, the client, and how an item becomes an entry;
- `writes`: `put`, single and batch, with replay and conflict checks;
- `reads`: `recent`, `follow` and the cursor format (its docstring is the cursor's contract);
- `scan`: the merged index reads, the sparse severity index, and the read budget;
- `upgrade`: adding the severity index to a table created before it;
- `retries`: throttling and transient failures retried within a time budget.

botocore is imported lazily: the Lambda handlers import this module and must start fast.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from logsvc.store.dynamodb.reads import _Reads
from logsvc.store.dynamodb.retries import _Retries
from logsvc.store.dynamodb.scan import MAX_SCAN, _Scans
from logsvc.store.dynamodb.schema import (
    _ID,
    INDEX_NAME,
    MAX_SHARDS,
    SEVERITY_INDEX_NAME,
    SETTINGS_ID,
    TTL_ATTRIBUTE,
    _check_shards,
    create_table,
    delete_table,
    make_client,
    settled_shard_count,
    shard_of,
    table_definition,
)
from logsvc.store.dynamodb.writes import _Writes
from logsvc.times import now_utc

__all__ = [
    "INDEX_NAME",
    "MAX_SHARDS",
    "SEVERITY_INDEX_NAME",
    "SETTINGS_ID",
    "TTL_ATTRIBUTE",
    "DynamoDBStore",
    "create_table",
    "delete_table",
    "make_client",
    "shard_of",
    "table_definition",
]


class DynamoDBStore(_Reads, _Scans, _Writes, _Retries):
    """The store interface of `logsvc.store` over one DynamoDB table (see the module docstring)."""

    def __init__(
        self,
        table_name: str,
        *,
        client=None,
        shards: int | None = None,
        retention_days: int = 0,
        settle_seconds: float = 5.0,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 8,
        retry_seconds: float = 4.0,
        clock: Callable[[], datetime] | None = None,
        max_scan: int = MAX_SCAN,
    ) -> None:
        """`client` defaults to `make_client(region, endpoint_url)`; `shards` to the settings item.

        A `shards` given must agree with the table's settings item when it has one: the first
        call raises `StoreMisconfigured` (code ``ShardCountMismatch``) if not.

        `max_attempts` and `retry_seconds` bound the retries of one call; `clock` (returning an
        aware datetime) exists so tests can move time. `max_scan` caps the items one read may
        examine (`scan.scan_budget`).
        """
        if shards is not None:
            _check_shards(shards)
        if retention_days < 0:
            raise ValueError("retention_days must not be negative")
        if settle_seconds < 0:
            raise ValueError("settle_seconds must not be negative")
        self.table_name = table_name
        self._client = client if client is not None else make_client(region, endpoint_url)
        self._shards = shards
        self._shards_settled = False  # until the settings item was read (`_shard_count`)
        self._retention = timedelta(days=retention_days)
        self._settle = timedelta(seconds=settle_seconds)
        self._max_attempts = max(1, max_attempts)
        self._retry_seconds = retry_seconds
        self._clock = clock or now_utc
        self._max_scan = max(1, max_scan)
        self._index_missing_until = 0.0  # monotonic time before which severity reads skip BySeverity

    def close(self) -> None:
        """Release the client's connections."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    # Insight (`logsvc stats`, `logsvc export`), kept in their own module.

    def count_by_bucket(self, query, edges: list[str]):
        from logsvc.store.dynamodb.insight import count_by_bucket

        return count_by_bucket(self, query, edges)

    def page_after(self, query, after: str | None) -> tuple[list[dict], str | None]:
        from logsvc.store.dynamodb.insight import page_after

        return page_after(self, query, after)

    def check(self) -> None:
        """Read the settings item once: StoreMisconfigured now if the table is missing or denied.

        For servers, at start-up: a service that starts on a table it cannot use would answer
        every request with an error. Needs only dynamodb:GetItem, which the handlers have.
        """
        self._call("get_item", None, TableName=self.table_name, Key={_ID: {"S": SETTINGS_ID}}, ConsistentRead=True)
        self._shard_count()  # and a configured shard count must agree with the table's

    # -- the settings item ---------------------------------------------------------------------

    def _shard_count(self) -> int:
        """The table's shard count, read once: a configured count that disagrees is refused."""
        if not self._shards_settled:
            response = self._call("get_item", None, TableName=self.table_name,
                                  Key={_ID: {"S": SETTINGS_ID}}, ConsistentRead=True)
            self._shards = settled_shard_count(self.table_name, response.get("Item"), self._shards)
            self._shards_settled = True
        return self._shards
