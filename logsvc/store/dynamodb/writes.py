"""Writing to the DynamoDB store: single and batch puts, with replay and conflict checks.

Writes: a single entry is a conditional PutItem (replays of identical content are reported, not
stored twice; different content is a `ConflictError`). A batch is checked with a consistent
BatchGetItem first and then written with BatchWriteItem, which has no conditions: a different
entry written with the same id between the check and the write by another client would be
overwritten (ids are random UUIDs, so only a buggy client can cause that).

Calls are retried by `retries`; a failure that outlasts the budget says which ids were stored.
"""

from __future__ import annotations

import time
from datetime import datetime

from logsvc.entry import SEVERITIES, same_content
from logsvc.store import ConflictError, PutResult, StoreUnavailable, unique_by_id
from logsvc.store.dynamodb.retries import _error_code
from logsvc.store.dynamodb.schema import (
    _DATE,
    _ID,
    _MESSAGE,
    _SEVERITY,
    _SEVERITY_SHARD,
    _SHARD,
    _SOURCE,
    _TIME_ID,
    TTL_ATTRIBUTE,
    _entry_of,
    _text,
    shard_of,
)

_BATCH_GET_SIZE = 100  # DynamoDB's limit for one BatchGetItem
_BATCH_WRITE_SIZE = 25  # DynamoDB's limit for one BatchWriteItem


class _Writes:
    """The write path of `DynamoDBStore`.

    Uses its `table_name`, `_retention`, `_retry_seconds`, `_shard_count`, `_call` and `_backoff`.
    """

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
        unique = unique_by_id(entries)
        try:
            existing = self._batch_get(list(unique), deadline)
        except StoreUnavailable as exc:
            raise _progress(exc, stored=[], pending=list(unique))
        replayed, conflicts = [], []
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
        shard = shard_of(entry["id"], self._shard_count())
        item = {
            _ID: {"S": entry["id"]},
            _DATE: {"S": entry["dateTime"]},
            _SEVERITY: {"S": entry["severity"]},
            _MESSAGE: {"S": entry["message"]},
            _SHARD: {"S": f"LOG#{shard}"},
            _TIME_ID: {"S": f"{entry['dateTime']}#{entry['id']}"},
        }
        if entry["severity"] != SEVERITIES[0]:  # the sparse severity index holds no info entry
            item[_SEVERITY_SHARD] = {"S": f"{entry['severity']}#{shard}"}
        if entry.get("source") is not None:
            item[_SOURCE] = {"S": entry["source"]}
        if self._retention:
            expires = datetime.fromisoformat(entry["dateTime"]) + self._retention
            item[TTL_ATTRIBUTE] = {"N": str(int(expires.timestamp()))}
        return item


def _progress(exc: StoreUnavailable, *, stored: list[str], pending: list[str]) -> StoreUnavailable:
    """`exc`, now saying which ids were stored and which were not (its type kept)."""
    exc.stored, exc.pending = stored, pending
    return exc
