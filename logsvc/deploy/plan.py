"""The steps of `logsvc deploy` and `logsvc diff` between the settings and the change set.

`prepare` builds the zip, finds (or makes) the bucket and uploads the zip when asked, and returns
what the change set needs; `check_update` refuses parameter changes the service cannot take;
`record_shards` writes the table's settings item; `profile_settings` says what the profile learns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logsvc.deploy import artifacts, stack
from logsvc.deploy.aws import Clients, translate
from logsvc.deploy.package import LambdaZip, build_zip
from logsvc.deploy.parameters import BY_SETTING, DEFAULT_STACK, template_parameters
from logsvc.errors import UsageError

# Function names are "<stack>-ingest" / "<stack>-read" (at most 64 characters).
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,49}")


@dataclass
class Prepared:
    clients: Clients
    stack_name: str
    region: str
    account: str
    bucket: str
    built: LambdaZip
    uploaded: bool  # False: the same zip was in the bucket already (or diff, which uploads nothing)
    bucket_created: bool
    values: dict[str, str]  # every template parameter
    current: dict | None  # the stack as it is, None if there is none


def stack_name(settings) -> str:
    name = settings["stack"] or DEFAULT_STACK
    if not _STACK_NAME.fullmatch(name):
        raise UsageError(f"stack name {name!r} is not valid",
                         hint="a letter, then up to 49 letters, digits or hyphens")
    return name


def deploy_settings(settings) -> dict[str, str | None]:
    """The parameter settings in force; `auth` counts only when set (the CLI's own default is none)."""
    values = {key: settings[key] for key in BY_SETTING}
    if settings.origins.get("auth") == "default":
        values["auth"] = None  # the template's default: AWS_IAM
    return values


def parameter_values(settings, current: dict | None) -> dict[str, str]:
    """Template parameters: what the settings say, else what the stack has now, else the template's default.

    A setting nobody gave (no flag, variable or profile value) keeps the stack's current value, so a
    plain `logsvc deploy` (from CI, or another machine) never undoes an earlier `--retention-days 90`.
    """
    values = template_parameters(deploy_settings(settings))
    if current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS":
        return values
    before = stack.parameters(current)
    for key, parameter in BY_SETTING.items():
        if settings.origins.get(key) == "default" and parameter.name in before:
            values[parameter.name] = before[parameter.name]
    return values


def prepare(settings, *, upload: bool) -> Prepared:
    """Steps 1 and 2: the zip, the bucket (made and filled only if `upload`), the parameters."""
    name = stack_name(settings)
    template_parameters(deploy_settings(settings))  # bad settings fail before any AWS call
    clients = Clients(settings["region"], settings["aws_profile"])
    region, account = clients.region, clients.account()
    current = stack.describe(clients.cloudformation, name)
    values = parameter_values(settings, current)
    check_update(current, values)
    built = build_zip()
    default_bucket = artifacts.bucket_name(account, region)
    # Like the parameters: a bucket given before (on another machine, say) stays in use.
    bucket = settings["bucket"] or stack.parameters(current).get("CodeBucket") or default_bucket
    created = uploaded = False
    if upload:
        created = artifacts.ensure_bucket(clients.s3, bucket, region, account, create=bucket == default_bucket)
        uploaded = artifacts.upload(clients.s3, bucket, built.key, built.data, account)
    values = {**values, "CodeBucket": bucket, "CodeKey": built.key}
    return Prepared(clients, name, region, account, bucket, built, uploaded, created, values, current)


def check_update(current: dict | None, values: dict[str, str]) -> None:
    """UsageError for changes the service cannot take: fewer shards, or another table policy."""
    if current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS":
        return
    before = stack.parameters(current)
    if "KeepTable" in before and before["KeepTable"] != values["KeepTable"]:
        was = "yes" if before["KeepTable"] == "true" else "no"
        raise UsageError(f"keep_table is fixed when the stack is created (it is {was})",
                         hint=f"set keep_table back to {was}: changing it would swap the table for an empty one")
    if "IndexShards" in before and int(values["IndexShards"]) < int(before["IndexShards"]):
        raise UsageError(f"shards cannot shrink from {before['IndexShards']} to {values['IndexShards']}",
                         hint="entries in the dropped shards would vanish from reads; keep or raise the count")


def record_shards(clients: Clients, table: str, shards: int) -> None:
    """Write the table's settings item (the shard count), as `logsvc table create` does."""
    from logsvc.store.dynamodb import SETTINGS_ID, table_definition

    key = table_definition(table)["KeySchema"][0]["AttributeName"]
    with translate("dynamodb"):
        clients.dynamodb.put_item(TableName=table, Item={key: {"S": SETTINGS_ID}, "Shards": {"N": str(shards)}})


def profile_settings(outputs: dict[str, str], name: str, bucket: str | None) -> dict[str, str]:
    """What the profile keeps after a deploy: the url target, both URLs, auth, region, table, stack."""
    found = {"target": "url", "ingest_url": outputs.get("IngestUrl"), "read_url": outputs.get("ReadUrl"),
             "auth": "none" if outputs.get("AuthType") == "NONE" else "iam", "region": outputs.get("Region"),
             "table": outputs.get("TableName"), "stack": name}
    if bucket:
        found["bucket"] = bucket
    missing = [key for key, value in found.items() if not value]
    if missing:
        from logsvc.errors import LogsvcError

        raise LogsvcError(f"the stack's outputs lack {', '.join(missing)}",
                          hint="the template and this logsvc do not match: deploy with this logsvc's template")
    return found


# The keys `destroy` removes again (target only while it is the deployed service's url).
STACK_KEYS = ("ingest_url", "read_url", "table", "stack")
