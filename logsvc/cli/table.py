"""`logsvc table create|upgrade|delete`: a DynamoDB table with exactly the service's schema."""

import sys
from typing import Annotated

import typer

from logsvc.cli import SERVICE, app
from logsvc.cli.options import TargetOptions, shared_options
from logsvc.errors import UsageError

table_app = typer.Typer(help="Create, upgrade or delete a DynamoDB table with the service's schema.", no_args_is_help=True)
app.add_typer(table_app, name="table", rich_help_panel=SERVICE)

# A table command names a table: --table, --endpoint-url, --region, --profile; no target or store.
_TABLE_ONLY = ("target", "store")


def _table_settings(targets: TargetOptions):
    settings = targets.settings()
    if not settings["table"]:
        raise UsageError("no table name", hint="pass --table NAME or `logsvc config set table NAME`")
    return settings


@table_app.command("create")
@shared_options(omit=_TABLE_ONLY)
def table_create(
    # 100: the store's MAX_SHARDS, as deploy --shards and `config set shards` allow (not imported: no boto here).
    shards: Annotated[int, typer.Option("--shards", min=1, max=100, help="Index shards: more spread a high write rate.")] = 1,
    *,
    targets: TargetOptions,
) -> None:
    """Create the table (exactly the schema the service uses); an existing one is left as it is."""
    from logsvc.aws import dynamodb_client, translate
    from logsvc.store.dynamodb import create_table

    settings = _table_settings(targets)
    client = dynamodb_client(settings)
    with translate(settings["table"]):
        created = create_table(client, settings["table"], shards=shards)
    sys.stderr.write(f"table {settings['table']} {'created' if created else 'already exists'}\n")
    if not created:
        from logsvc.store.dynamodb.upgrade import UPGRADE_HINT, severity_index_status

        with translate(settings["table"]):
            missing = severity_index_status(client, settings["table"]) is None
        if missing:
            sys.stderr.write(f"it has no BySeverity index: {UPGRADE_HINT.format(table=settings['table'])}\n")


@table_app.command("upgrade")
@shared_options(omit=_TABLE_ONLY)
def table_upgrade(*, targets: TargetOptions) -> None:
    """Add what a table made by an older version lacks: the BySeverity index (severity reads that
    never read info entries), and its key on the warning and error entries already stored.

    DynamoDB builds the index in the background (minutes on a big table); until it is ready the
    service reads the old way. Costs one Scan of the table and one write per warning or error entry.
    """
    from logsvc.aws import dynamodb_client, translate
    from logsvc.store.dynamodb.upgrade import add_severity_index

    settings = _table_settings(targets)
    client = dynamodb_client(settings)
    with translate(settings["table"]):
        created, updated = add_severity_index(client, settings["table"])
    done = "index BySeverity added (DynamoDB builds it in the background)" if created else "index BySeverity already there"
    sys.stderr.write(f"table {settings['table']}: {done}; {updated} warning and error entries given its key\n")


@table_app.command("delete")
@shared_options(omit=_TABLE_ONLY)
def table_delete(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the entries in the table are deleted.")] = False,
    *,
    targets: TargetOptions,
) -> None:
    """Delete the table and every entry in it."""
    from logsvc.aws import dynamodb_client, translate
    from logsvc.store.dynamodb import delete_table

    settings = _table_settings(targets)
    if not yes:
        raise UsageError(f"deleting table {settings['table']} deletes every entry in it", hint="add --yes to confirm")
    client = dynamodb_client(settings)
    with translate(settings["table"]):
        deleted = delete_table(client, settings["table"])
    sys.stderr.write(f"table {settings['table']} {'deleted' if deleted else 'did not exist'}\n")
