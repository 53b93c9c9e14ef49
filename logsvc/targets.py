"""Building the store a command talks to, from the resolved settings: the one place collaborators are made.

Each target offers the store interface (`logsvc.store`): put / recent / follow / close.
Imports are deferred so that a command pays only for the target it uses.
"""

from __future__ import annotations

from logsvc.config import Resolved
from logsvc.errors import UsageError


def open_store(settings: Resolved, *, reading: bool = False):
    """The store of `settings`. `reading`: a local store named by --store, LOGSVC_STORE or the
    profile must exist already (reading creates no store); only the default one is made on first use."""
    target = settings["target"]
    if target == "local":
        from logsvc.store.sqlite import SQLiteStore

        path = settings.store_path()
        return SQLiteStore(path, create=not reading or (settings["store"] is None and not path.exists()))
    if target == "dynamodb":
        return _dynamodb(settings)
    if target == "url":
        return _url(settings)
    raise UsageError(f"unknown target {target!r}")


def _dynamodb(settings: Resolved):
    if not settings["table"]:
        raise UsageError("target dynamodb needs a table name",
                         hint="pass --table, set LOGSVC_TABLE, or `logsvc config set table NAME`")
    from logsvc.aws import TranslatedStore, dynamodb_client
    from logsvc.store.dynamodb import DynamoDBStore

    from logsvc.retry import REMOTE

    client = dynamodb_client(settings, policy=REMOTE)
    shards = int(settings["shards"]) if settings["shards"] else None
    # The same retry policy as the url target: attempts and total time (logsvc.retry).
    return TranslatedStore(DynamoDBStore(settings["table"], client=client, shards=shards,
                                         max_attempts=REMOTE.attempts, retry_seconds=REMOTE.seconds))


def _url(settings: Resolved):
    if not settings["ingest_url"] and not settings["read_url"]:
        raise UsageError("target url needs the Function URLs",
                         hint="set LOGSVC_INGEST_URL and LOGSVC_READ_URL, or `logsvc config set ingest_url URL`")
    from logsvc.client import FunctionUrlStore

    from logsvc.retry import REMOTE

    return FunctionUrlStore(settings["ingest_url"], settings["read_url"], auth=settings["auth"],
                            region=settings["region"], aws_profile=settings["aws_profile"], policy=REMOTE)
