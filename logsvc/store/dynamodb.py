"""The DynamoDB store: one table, a sharded time index, exactly-once tailing over it.

Table layout (defined once, in `table_definition`; a CloudFormation template must match it):

- hash key ``LogID`` (the entry id) with ``DateTime``, ``Severity``, ``Message`` — the original
  service's attribute names — plus ``Source`` when given;
- ``Shard`` (``LOG#k``, k = int(uuid) % N) and ``TimeId`` (``f"{dateTime}#{id}"``): the keys of the
  global secondary index ``ByTime``, so each shard's index partition is ordered by time, then id.
  Several shards spread a high write rate over several index partitions; reads query every shard
  and merge the results lazily;
- ``ExpiresAt`` (epoch seconds = dateTime + retention days), the TTL attribute, when retention is on.

The shard count N comes from the constructor or, when not given, from a settings item
(``LogID = "__logsvc_settings__"``, number ``Shards``; 1 when absent). That item has no
``Shard``/``TimeId``, so it never appears in the index. N may grow (old entries stay in the
shards below the new N, which are still read) but must never shrink: entries in dropped shards
would disappear from reads.

Tailing (`follow`) and its cursors
----------------------------------
A GSI is eventually consistent and entries carry the writer's clock, so "arrival order" cannot be
read from the index directly. Instead every read re-reads the last ``settle_seconds`` of the
index and de-duplicates by id. A cursor (opaque: url-safe base64 of compact JSON) holds:

- a watermark W (a ``TimeId``, or a bare time): everything with ``TimeId <= W`` was delivered, or
  was deliberately given up on;
- the short ids (first 12 hex digits) and times of the entries delivered with ``TimeId > W``.

`follow` queries every shard for ``TimeId > W`` in ascending order, merges, skips ids already
delivered and entries the query filters out, and takes ``limit``. The new watermark is
``max(W, min(now - settle, last delivered TimeId when the page was cut short by limit))``; the
delivered set is pruned to entries above it. `recent` returns a cursor with W = now - settle and
every matching entry above W marked as delivered: "everything that arrives after this read".

So an entry is delivered exactly once by a chain of `follow` calls provided it becomes visible in
the index before the reader's clock passes its dateTime + settle. Entries whose dateTime is
back-dated more than the settle window before their arrival (a writer clock far behind, a
replayed spool, an explicit old dateTime) show in `recent` but may not show in a running tail.
Each read costs (and a cursor holds) about rate x settle entries; keep a chain of follow calls
on one `Query` — entries filtered out count as delivered.

Writes: a single entry is a conditional PutItem (replays of identical content are reported, not
stored twice; different content is a `ConflictError`). A batch is checked with a consistent
BatchGetItem first and then written with BatchWriteItem, which has no conditions: a different
entry written with the same id between the check and the write by another client would be
overwritten (ids are random UUIDs, so only a buggy client can cause that).

Throttling and transient failures are retried inside the store with exponential backoff and
jitter, within a time budget (`retry_seconds`, plus at most one request timeout); after that
`StoreUnavailable` lists the ids stored and those still pending. An id may be reported pending
although stored (a timeout after the write); sending it again is a harmless replay.

botocore is imported lazily: the Lambda handlers import this module and must start fast.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from logsvc.entry import FIELDS, SEVERITIES, at_least, same_content
from logsvc.store import BadCursor, ConflictError, Page, PutResult, Query, StoreMisconfigured, StoreUnavailable
from logsvc.times import UTC, format_utc, now_utc

INDEX_NAME = "ByTime"
TTL_ATTRIBUTE = "ExpiresAt"
SETTINGS_ID = "__logsvc_settings__"
MAX_SHARDS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_BATCH_GET_SIZE = 100  # DynamoDB's limit for one BatchGetItem
_BATCH_WRITE_SIZE = 25  # DynamoDB's limit for one BatchWriteItem
_SHORT_ID_CHARS = 12  # 48 bits: a collision inside one settle window is negligible
_CURSOR_VERSION = "ddb1"  # also tells our cursors from another store's

# Error codes worth retrying: throttling and server-side trouble.
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
# Errors that retrying cannot fix but that mean "the store cannot be used", not a bug here.
_UNAVAILABLE_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)

# Item attribute names (the first four are the original service's).
_ID, _DATE, _SEVERITY, _MESSAGE, _SOURCE = "LogID", "DateTime", "Severity", "Message", "Source"
_SHARD, _TIME_ID = "Shard", "TimeId"
_ATTRIBUTE_OF = {"id": _ID, "dateTime": _DATE, "severity": _SEVERITY, "message": _MESSAGE, "source": _SOURCE}


def table_definition(table_name: str) -> dict:
    """The keyword arguments of ``create_table``: the single definition of the table's schema.

    TTL is not part of CreateTable; it is enabled separately on `TTL_ATTRIBUTE`.
    """
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": _ID, "AttributeType": "S"},
            {"AttributeName": _SHARD, "AttributeType": "S"},
            {"AttributeName": _TIME_ID, "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": _ID, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX_NAME,
                "KeySchema": [
                    {"AttributeName": _SHARD, "KeyType": "HASH"},
                    {"AttributeName": _TIME_ID, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def make_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    session=None,
    **client_kwargs,
):
    """A low-level DynamoDB client whose own retries are off: the store retries, within its budget.

    `session` is a botocore Session (default: a new one, reading the AWS environment as it is
    now); `client_kwargs` go to its ``create_client`` (e.g. credentials for a local endpoint).
    botocore rather than boto3: boto3 adds imports (s3transfer) and nothing we use.
    """
    import botocore.session
    from botocore.config import Config

    config = Config(
        # One attempt per call: the store's own loop retries, so the total time has one bound.
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        tcp_keepalive=True,
        max_pool_connections=32,
    )
    return (session or botocore.session.get_session()).create_client(
        "dynamodb", region_name=region, endpoint_url=endpoint_url, config=config, **client_kwargs
    )


def create_table(client, table_name: str, shards: int = 1) -> bool:
    """Create the table, wait until it is active, enable TTL and record the shard count.

    Returns False (and changes nothing) when the table already exists.
    """
    _check_shards(shards)
    try:
        client.create_table(**table_definition(table_name))
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    client.put_item(TableName=table_name, Item={_ID: {"S": SETTINGS_ID}, "Shards": {"N": str(shards)}})
    return True


def delete_table(client, table_name: str) -> bool:
    """Delete the table and wait until it is gone. Returns False when it did not exist."""
    try:
        client.delete_table(TableName=table_name)
    except client.exceptions.ResourceNotFoundException:
        return False
    client.get_waiter("table_not_exists").wait(TableName=table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    return True


def shard_of(entry_id: str, shards: int) -> int:
    """The index shard of an id: its UUID as an integer, modulo the shard count."""
    return uuid.UUID(entry_id).int % shards


def _check_shards(shards: int) -> None:
    if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be a whole number from 1 to {MAX_SHARDS}")


class DynamoDBStore:
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
    ) -> None:
        """`client` defaults to `make_client(region, endpoint_url)`; `shards` to the settings item.

        `max_attempts` and `retry_seconds` bound the retries of one call; `clock` (returning an
        aware datetime) exists so tests can move time.
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
        self._retention = timedelta(days=retention_days)
        self._settle = timedelta(seconds=settle_seconds)
        self._max_attempts = max(1, max_attempts)
        self._retry_seconds = retry_seconds
        self._clock = clock or now_utc

    # -- the store interface -------------------------------------------------------------------

    def put(self, entries: list[dict]) -> PutResult:
        """Store normalised entries; see `logsvc.store` for replay and conflict semantics."""
        if not entries:
            return PutResult()
        deadline = time.monotonic() + self._retry_seconds
        try:
            self._shard_count()  # may read the settings item; fail before writing anything
        except StoreUnavailable as exc:
            raise _progress(exc, stored=[], pending=list(dict.fromkeys(e["id"] for e in entries)))
        if len(entries) == 1:
            return self._put_one(entries[0], deadline)
        return self._put_batch(entries, deadline)

    def recent(self, query: Query) -> Page:
        """The newest `query.limit` matching entries, newest first, and a cursor for `follow`.

        Reads the whole settle window (to mark it delivered in the cursor), then older entries
        only as far as needed.
        """
        watermark = format_utc(self._clock() - self._settle)
        window = list(self._merged(query, lower=_max(watermark, query.since), upper=query.until, ascending=False))
        matching_window = [(time_id, entry) for time_id, entry in window if query.matches(entry)]
        entries = [entry for _, entry in matching_window[: query.limit]]
        if len(entries) < query.limit:
            older_upper = _min(watermark, query.until)
            older = self._merged(query, lower=query.since, upper=older_upper, ascending=False)
            for _, entry in older:
                if query.matches(entry):
                    entries.append(entry)
                    if len(entries) >= query.limit:
                        break
        seen = {_short(entry["id"]): _millis(entry["dateTime"]) for _, entry in matching_window}
        return Page(entries, _encode_cursor(watermark, seen))

    def follow(self, cursor: str, query: Query) -> Page:
        """Entries that arrived after `cursor`, oldest first, each once over a chain of calls."""
        watermark, seen = _decode_cursor(cursor)
        horizon = format_utc(self._clock() - self._settle)
        delivered: list[dict] = []
        last_time_id = None
        stream = self._merged(query, lower=_max(watermark, query.since), upper=query.until, ascending=True)
        for time_id, entry in stream:
            short = _short(entry["id"])
            if short in seen or not query.matches(entry):
                continue
            delivered.append(entry)
            seen[short] = _millis(entry["dateTime"])
            last_time_id = time_id
            if len(delivered) >= query.limit:
                break
        # Cut short by limit: the rest above the last delivered entry is still to come.
        truncated = len(delivered) >= query.limit and last_time_id is not None
        candidate = min(horizon, last_time_id) if truncated else horizon
        new_watermark = max(watermark, candidate)
        floor = _millis(new_watermark.split("#", 1)[0])
        kept = {short: millis for short, millis in seen.items() if millis >= floor}
        return Page(delivered, _encode_cursor(new_watermark, kept))

    def close(self) -> None:
        """Release the client's connections."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    # -- writing ---------------------------------------------------------------------------------

    def _put_one(self, entry: dict, deadline: float) -> PutResult:
        from botocore.exceptions import ClientError

        item = self._item(entry)
        # Loop only for the rare case where the conflicting item vanished (TTL) before GetItem.
        for _ in range(3):
            try:
                self._call("put_item", deadline, TableName=self.table_name, Item=item,
                           ConditionExpression="attribute_not_exists(LogID)")
            except ClientError as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise
            except StoreUnavailable as exc:
                raise _progress(exc, stored=[], pending=[entry["id"]])
            else:
                return PutResult(stored=[entry["id"]])
            try:
                found = self._call("get_item", deadline, TableName=self.table_name,
                                   Key={_ID: {"S": entry["id"]}}, ConsistentRead=True)
            except StoreUnavailable as exc:
                raise _progress(exc, stored=[], pending=[entry["id"]])
            if "Item" not in found:
                continue
            existing = _entry_of(found["Item"])
            if existing is not None and same_content(existing[1], entry):
                return PutResult(replayed=[entry["id"]])
            raise ConflictError([entry["id"]])
        raise ConflictError([entry["id"]])

    def _put_batch(self, entries: list[dict], deadline: float) -> PutResult:
        unique: dict[str, dict] = {}
        conflicts: list[str] = []
        for entry in entries:
            earlier = unique.get(entry["id"])
            if earlier is None:
                unique[entry["id"]] = entry
            elif not same_content(earlier, entry) and entry["id"] not in conflicts:
                conflicts.append(entry["id"])
        if conflicts:
            raise ConflictError(conflicts)

        try:
            existing = self._batch_get(list(unique), deadline)
        except StoreUnavailable as exc:
            raise _progress(exc, stored=[], pending=list(unique))
        replayed = []
        for entry_id, entry in unique.items():
            if entry_id in existing:
                found = existing[entry_id]
                if found is not None and same_content(found, entry):
                    replayed.append(entry_id)
                else:
                    conflicts.append(entry_id)
        if conflicts:
            raise ConflictError(conflicts)

        to_write = [entry for entry_id, entry in unique.items() if entry_id not in existing]
        stored: list[str] = []
        for start in range(0, len(to_write), _BATCH_WRITE_SIZE):
            chunk = to_write[start : start + _BATCH_WRITE_SIZE]
            try:
                self._batch_write(chunk, stored, deadline)
            except StoreUnavailable as exc:
                done = set(stored)
                pending = [entry["id"] for entry in to_write if entry["id"] not in done]
                raise _progress(exc, stored=stored, pending=pending)
        return PutResult(stored=stored, replayed=replayed)

    def _batch_get(self, ids: list[str], deadline: float) -> dict[str, dict | None]:
        """Existing items by id (None for an item too malformed to compare)."""
        found: dict[str, dict | None] = {}
        for start in range(0, len(ids), _BATCH_GET_SIZE):
            request = {
                self.table_name: {
                    "Keys": [{_ID: {"S": entry_id}} for entry_id in ids[start : start + _BATCH_GET_SIZE]],
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while request:
                response = self._call("batch_get_item", deadline, RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    entry_id = _text(item, _ID)
                    decoded = _entry_of(item)
                    if entry_id is not None:
                        found[entry_id] = decoded[1] if decoded else None
                request = response.get("UnprocessedKeys") or {}
                if request:
                    attempt += 1
                    if not self._backoff(attempt, deadline):
                        raise StoreUnavailable("DynamoDB kept returning unprocessed keys (throttled)")
        return found

    def _batch_write(self, chunk: list[dict], stored: list[str], deadline: float) -> None:
        """Write up to 25 entries, appending ids to `stored` as DynamoDB confirms them."""
        pending = {entry["id"]: self._item(entry) for entry in chunk}
        attempt = 0
        while pending:
            request = {self.table_name: [{"PutRequest": {"Item": item}} for item in pending.values()]}
            response = self._call("batch_write_item", deadline, RequestItems=request)
            unprocessed = {
                _text(write["PutRequest"]["Item"], _ID)
                for write in response.get("UnprocessedItems", {}).get(self.table_name, [])
            }
            for entry_id in list(pending):
                if entry_id not in unprocessed:
                    stored.append(entry_id)
                    del pending[entry_id]
            if pending:
                attempt += 1
                if not self._backoff(attempt, deadline):
                    raise StoreUnavailable("DynamoDB kept returning unprocessed items (throttled)")

    def _item(self, entry: dict) -> dict:
        item = {
            _ID: {"S": entry["id"]},
            _DATE: {"S": entry["dateTime"]},
            _SEVERITY: {"S": entry["severity"]},
            _MESSAGE: {"S": entry["message"]},
            _SHARD: {"S": f"LOG#{shard_of(entry['id'], self._shard_count())}"},
            _TIME_ID: {"S": f"{entry['dateTime']}#{entry['id']}"},
        }
        if entry.get("source") is not None:
            item[_SOURCE] = {"S": entry["source"]}
        if self._retention:
            expires = datetime.fromisoformat(entry["dateTime"]) + self._retention
            item[TTL_ATTRIBUTE] = {"N": str(int(expires.timestamp()))}
        return item

    # -- reading ---------------------------------------------------------------------------------

    def _shard_count(self) -> int:
        if self._shards is None:
            response = self._call("get_item", None, TableName=self.table_name,
                                  Key={_ID: {"S": SETTINGS_ID}}, ConsistentRead=True)
            value = response.get("Item", {}).get("Shards", {}).get("N")
            try:
                shards = int(value) if value is not None else 1
            except ValueError:
                shards = 1
            self._shards = min(max(shards, 1), MAX_SHARDS)
        return self._shards

    def _merged(self, query: Query, *, lower: str | None, upper: str | None, ascending: bool) -> Iterator[tuple[str, dict]]:
        """(TimeId, entry) pairs of every shard with lower < TimeId < upper, merged in order."""
        shards = self._shard_count()
        # Unfiltered, a shard contributes about limit / N entries; a quarter more saves most second
        # pages. One shard holds them all: read exactly `limit` (each item read costs capacity).
        per_shard = query.limit if shards == 1 else -(-query.limit * 5 // (4 * shards))
        page_size = min(1000, max(16, per_shard))
        streams = [
            self._shard_stream(shard, query, lower=lower, upper=upper, ascending=ascending, page_size=page_size)
            for shard in range(shards)
        ]
        return heapq.merge(*streams, key=lambda pair: pair[0], reverse=not ascending)

    def _shard_stream(self, shard: int, query: Query, *, lower: str | None, upper: str | None,
                      ascending: bool, page_size: int) -> Iterator[tuple[str, dict]]:
        """One shard's index partition, paginated lazily. Both bounds are exclusive.

        Bounds are TimeIds or bare times; for a bare time "> t" and ">= t" select the same
        TimeIds (``t#id > t``), so only a TimeId lower bound needs the Python check below.
        """
        names = {"#shard": _SHARD, "#time": _TIME_ID}
        values: dict = {":shard": {"S": f"LOG#{shard}"}}
        condition = "#shard = :shard"
        if lower is not None and upper is not None:
            if lower >= upper:
                return
            condition += " AND #time BETWEEN :lower AND :upper"
            values[":lower"], values[":upper"] = {"S": lower}, {"S": upper}
        elif lower is not None:
            condition += " AND #time > :lower"
            values[":lower"] = {"S": lower}
        elif upper is not None:
            condition += " AND #time < :upper"
            values[":upper"] = {"S": upper}
        filters = []
        if query.min_severity and query.min_severity != SEVERITIES[0]:
            levels = at_least(query.min_severity)
            names["#severity"] = _SEVERITY
            placeholders = []
            for number, level in enumerate(levels):
                values[f":sev{number}"] = {"S": level}
                placeholders.append(f":sev{number}")
            filters.append(f"#severity IN ({', '.join(placeholders)})")
        if query.grep:
            names["#message"] = _MESSAGE
            values[":grep"] = {"S": query.grep}
            filters.append("contains(#message, :grep)")
        request = {
            "TableName": self.table_name,
            "IndexName": INDEX_NAME,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": ascending,
            "Limit": page_size,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        while True:
            response = self._call("query", None, **request)
            for item in response.get("Items", []):
                decoded = _entry_of(item)
                if decoded is None:
                    continue
                time_id = decoded[0]
                if (lower is not None and time_id <= lower) or (upper is not None and time_id >= upper):
                    continue
                yield decoded
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return
            request["ExclusiveStartKey"] = last_key

    # -- retries ---------------------------------------------------------------------------------

    def _call(self, operation: str, deadline: float | None, **kwargs) -> dict:
        """Call a client operation, retrying throttling and transient failures within the budget.

        Raises StoreUnavailable when retries are exhausted or the table cannot be used; other
        client errors (conditional check failures, validation errors) propagate unchanged.
        """
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if deadline is None:
            deadline = time.monotonic() + self._retry_seconds
        method = getattr(self._client, operation)
        attempt = 0
        while True:
            try:
                return method(**kwargs)
            except ClientError as exc:
                code = _error_code(exc)
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                if code in _UNAVAILABLE_CODES:
                    raise StoreMisconfigured(f"DynamoDB table {self.table_name!r} cannot be used: {code}", code) from exc
                if code not in _RETRYABLE_CODES and status < 500:
                    raise
                failure = f"{code or status}"
            except (BotoConnectionError, HTTPClientError) as exc:
                failure = type(exc).__name__
            attempt += 1
            if not self._backoff(attempt, deadline):
                raise StoreUnavailable(
                    f"DynamoDB {operation} failed after {attempt} attempts: {failure}"
                )

    def _backoff(self, attempt: int, deadline: float) -> bool:
        """Sleep before retry `attempt` (1-based); False when the attempts or the budget are spent."""
        if attempt >= self._max_attempts:
            return False
        ceiling = min(1.0, 0.025 * 2**attempt)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never a busy retry
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        return True


# -- items, cursors and small helpers -------------------------------------------------------------


def _progress(exc: StoreUnavailable, *, stored: list[str], pending: list[str]) -> StoreUnavailable:
    """`exc`, now saying which ids were stored and which were not (its type kept)."""
    exc.stored, exc.pending = stored, pending
    return exc


def _text(item: dict, name: str) -> str | None:
    value = item.get(name)
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        return value["S"]
    return None


def _entry_of(item: dict) -> tuple[str, dict] | None:
    """(TimeId, entry) of an item, or None for an item too malformed to show (no id/time/message)."""
    entry_id, date_time, message = _text(item, _ID), _text(item, _DATE), _text(item, _MESSAGE)
    if entry_id is None or date_time is None or message is None:
        return None
    try:
        _millis(date_time)  # cursors keep times as milliseconds; skip what cannot be read
    except ValueError:
        return None
    severity = _text(item, _SEVERITY)
    entry = {
        "id": entry_id,
        "dateTime": date_time,
        # Readers rely on the three wire names; an item written by something else may not.
        "severity": severity if severity in SEVERITIES else SEVERITIES[0],
        "message": message,
    }
    source = _text(item, _SOURCE)
    if source is not None:
        entry["source"] = source
    time_id = _text(item, _TIME_ID) or f"{date_time}#{entry_id}"
    return time_id, {key: entry[key] for key in FIELDS if key in entry}


def _error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _short(entry_id: str) -> str:
    return entry_id.replace("-", "")[:_SHORT_ID_CHARS]


def _millis(date_time: str) -> int:
    """Epoch milliseconds (floor, exact integer arithmetic) of a stored time; ValueError if unreadable."""
    instant = datetime.fromisoformat(date_time)
    if instant.tzinfo is None:
        raise ValueError(f"time {date_time!r} has no offset")
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _encode_cursor(watermark: str, seen: dict[str, int]) -> str:
    """Compact: seen times are millisecond offsets from the watermark's time, which bounds them."""
    base = _millis(watermark.split("#", 1)[0])
    payload = {
        "v": _CURSOR_VERSION,
        "w": watermark,
        "s": [[short, millis - base] for short, millis in sorted(seen.items(), key=lambda pair: pair[1])],
    }
    raw = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str) -> tuple[str, dict[str, int]]:
    if not isinstance(cursor, str) or not cursor or len(cursor) > 2_000_000:
        raise BadCursor("the cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadCursor("the cursor is not one this service issued") from exc
    if not isinstance(payload, dict) or payload.get("v") != _CURSOR_VERSION:
        raise BadCursor("the cursor is not one this service issued")
    watermark, pairs = payload.get("w"), payload.get("s")
    if not isinstance(watermark, str) or not isinstance(pairs, list):
        raise BadCursor("the cursor is corrupt")
    try:
        base = _millis(watermark.split("#", 1)[0])
    except ValueError as exc:
        raise BadCursor("the cursor is corrupt") from exc
    seen: dict[str, int] = {}
    for pair in pairs:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], int)
            or isinstance(pair[1], bool)
        ):
            raise BadCursor("the cursor is corrupt")
        seen[pair[0]] = base + pair[1]
    return watermark, seen
