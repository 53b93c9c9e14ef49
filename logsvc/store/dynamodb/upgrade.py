"""Bringing a table created before the ``BySeverity`` index up to the current schema.

`severity_index_status` says whether a table has the index (DescribeTable); `add_severity_index`
adds it (UpdateTable; DynamoDB builds it in the background, minutes for a big table) and gives
the warning and error items written before this version their ``SevShard`` (one Scan of the
table and one UpdateItem per such item: a one-off cost of about the table's size in read units).
Reads use the time index until the new one answers (`scan`), so nothing waits for either step.
"""

from __future__ import annotations

from logsvc.store.dynamodb.schema import (
    _ID,
    _SEVERITY,
    _SEVERITY_SHARD,
    _TIME_ID,
    SETTINGS_ID,
    SEVERITY_INDEX_NAME,
    settled_shard_count,
    severity_index_definition,
    shard_of,
)

UPGRADE_HINT = "add it with `logsvc table upgrade --table {table}` (severity reads scan every entry until then)"


def severity_index_status(client, table_name: str) -> str | None:
    """The index's status (ACTIVE, CREATING, ...) or None when the table does not have it."""
    description = client.describe_table(TableName=table_name)["Table"]
    for index in description.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] == SEVERITY_INDEX_NAME:
            return index.get("IndexStatus", "ACTIVE")
    return None


def add_severity_index(client, table_name: str) -> tuple[bool, int]:
    """Create the index if missing, then backfill ``SevShard``: (created, items updated)."""
    created = False
    if severity_index_status(client, table_name) is None:
        client.update_table(
            TableName=table_name,
            AttributeDefinitions=[
                {"AttributeName": _SEVERITY_SHARD, "AttributeType": "S"},
                {"AttributeName": _TIME_ID, "AttributeType": "S"},
            ],
            GlobalSecondaryIndexUpdates=[{"Create": severity_index_definition()}],
        )
        created = True
    return created, backfill_severity_shards(client, table_name)


def backfill_severity_shards(client, table_name: str) -> int:
    """Set ``SevShard`` on warning and error items that lack it; returns how many were updated."""
    settings = client.get_item(TableName=table_name, Key={_ID: {"S": SETTINGS_ID}}, ConsistentRead=True)
    shards = settled_shard_count(table_name, settings.get("Item"), None)
    request = {
        "TableName": table_name,
        "FilterExpression": "#severity IN (:warning, :error) AND attribute_not_exists(#part) AND attribute_exists(#time)",
        "ExpressionAttributeNames": {"#severity": _SEVERITY, "#part": _SEVERITY_SHARD, "#time": _TIME_ID},
        "ExpressionAttributeValues": {":warning": {"S": "warning"}, ":error": {"S": "error"}},
        "ProjectionExpression": "#id, #severity",
    }
    request["ExpressionAttributeNames"]["#id"] = _ID
    updated = 0
    while True:
        page = client.scan(**request)
        for item in page.get("Items", []):
            entry_id, severity = item[_ID]["S"], item[_SEVERITY]["S"]
            try:
                shard = shard_of(entry_id, shards)
            except ValueError:  # not a UUID: written by something else; the time index still has it
                continue
            try:
                client.update_item(
                    TableName=table_name,
                    Key={_ID: {"S": entry_id}},
                    UpdateExpression="SET #part = :part",
                    ConditionExpression="attribute_exists(#id)",  # expired meanwhile: do not recreate it
                    ExpressionAttributeNames={"#part": _SEVERITY_SHARD, "#id": _ID},
                    ExpressionAttributeValues={":part": {"S": f"{severity}#{shard}"}},
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue
            updated += 1
        if "LastEvaluatedKey" not in page:
            return updated
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
