"""The DynamoDB store's table: its schema, creation and deletion, the settings item, the client.

Table layout (defined once, in `table_definition`; a CloudFormation template must match it):

- hash key ``LogID`` (the entry id) with ``DateTime``, ``Severity``, ``Message`` — the original
  service's attribute names — plus ``Source`` when given;
- ``Shard`` (``LOG#k``, k = int(uuid) % N) and ``TimeId`` (``f"{dateTime}#{id}"``): the keys of the
  global secondary index ``ByTime``, so each shard's index partition is ordered by time, then id.
  Several shards spread a high write rate over several index partitions; reads query every shard
  and merge the results lazily;
- ``SevShard`` (``<severity>#k``, e.g. ``error#3``), set only on warning and error items: the hash
  key of the sparse index ``BySeverity`` (range ``TimeId``), which holds no info entry, so
  severity reads cost what they return (`scan`). `add_severity_index` adds it to an older table;
- ``ExpiresAt`` (epoch seconds = dateTime + retention days), the TTL attribute, when retention is on.

The shard count N comes from a settings item (``LogID = "__logsvc_settings__"``, number
``Shards``), written by `create_table`; a count configured elsewhere (``INDEX_SHARDS``, a
profile's ``shards``) must agree with it, or the store refuses to work (`settled_shard_count`):
a writer using 4 shards on a 2-shard table would store entries no reader returns. A table
without the item (made by a template) uses the configured count, else 1. That item has no
``Shard``/``TimeId``, so it never appears in the index. N may grow (old entries stay in the
shards below the new N, which are still read) but must never shrink: entries in dropped shards
would disappear from reads.

Items convert to entries here too (`_entry_of`): the write path compares them, the read path
shows them.

botocore is imported lazily: the Lambda handlers import this module and must start fast.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from logsvc.entry import FIELDS, SEVERITIES
from logsvc.times import UTC

INDEX_NAME = "ByTime"
SEVERITY_INDEX_NAME = "BySeverity"  # sparse: warning and error entries only (`scan` module docstring)
TTL_ATTRIBUTE = "ExpiresAt"
SETTINGS_ID = "__logsvc_settings__"
MAX_SHARDS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Item attribute names (the first four are the original service's).
_ID, _DATE, _SEVERITY, _MESSAGE, _SOURCE = "LogID", "DateTime", "Severity", "Message", "Source"
_SHARD, _TIME_ID = "Shard", "TimeId"
_SEVERITY_SHARD = "SevShard"  # "<severity>#k" on warning and error items only: the sparse index's key
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
            {"AttributeName": _SEVERITY_SHARD, "AttributeType": "S"},
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
            },
            severity_index_definition(),
        ],
    }


def severity_index_definition() -> dict:
    """The sparse ``BySeverity`` index: what `table_definition` has and `add_severity_index` adds."""
    return {
        "IndexName": SEVERITY_INDEX_NAME,
        "KeySchema": [
            {"AttributeName": _SEVERITY_SHARD, "KeyType": "HASH"},
            {"AttributeName": _TIME_ID, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
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


def settled_shard_count(table_name: str, settings_item: dict | None, configured: int | None) -> int:
    """The shard count to use: the settings item's; `configured` must agree with it.

    Raises `StoreMisconfigured` (code ``ShardCountMismatch``) when both are known and differ.
    """
    from logsvc.store import StoreMisconfigured

    value = ((settings_item or {}).get("Shards") or {}).get("N")
    try:
        recorded = min(max(int(value), 1), MAX_SHARDS) if value is not None else None
    except ValueError:
        recorded = None
    if recorded is None:
        return configured if configured is not None else 1
    if configured is not None and configured != recorded:
        raise StoreMisconfigured(
            f"the table {table_name!r} has {recorded} index shard{'s' if recorded > 1 else ''} (its settings item)"
            f" but {configured} {'are' if configured > 1 else 'is'} configured; entries would go to or be read"
            f" from the wrong shards. Set the shard count to {recorded} or leave it unset (it is read from the table)",
            "ShardCountMismatch",
        )
    return recorded


def _check_shards(shards: int) -> None:
    if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be a whole number from 1 to {MAX_SHARDS}")


# -- items ---------------------------------------------------------------------------------------


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


def _millis(date_time: str) -> int:
    """Epoch milliseconds (floor, exact integer arithmetic) of a stored time; ValueError if unreadable."""
    instant = datetime.fromisoformat(date_time)
    if instant.tzinfo is None:
        raise ValueError(f"time {date_time!r} has no offset")
    return (instant - _EPOCH) // timedelta(milliseconds=1)
