"""`logsvc deploy`, `diff`, `outputs`, `destroy`: the service in an AWS account, with CloudFormation.

The work is in `logsvc.deploy`; here are the options, the confirmation, and what the operator
sees: the change table (stdout), progress and events (stderr, live with Rich on a terminal).
"""

import json
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from logsvc.cli import SERVICE, app
from logsvc.cli.options import OptionGroup, ProfileOpt, shared_options
from logsvc.errors import ExitCode, LogsvcError, UsageError


class Auth(str, Enum):
    iam = "iam"
    none = "none"


class DiffOutput(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


class OutputsOutput(str, Enum):
    table = "table"
    json = "json"


StackOpt = Annotated[Optional[str], typer.Option("--stack", help="Stack name (default: the profile's, else logsvc).", show_default=False)]
RegionOpt = Annotated[Optional[str], typer.Option("--region", help="AWS region (default: the profile's, else the AWS chain's).", show_default=False)]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed without a terminal).")]
BucketOpt = Annotated[Optional[str], typer.Option("--bucket", help="S3 bucket for the Lambda zip (default: logsvc-artifacts-ACCOUNT-REGION, created).", show_default=False)]


def _settings(profile: str | None, **flags):
    from logsvc.config import resolve

    return resolve({key: None if value is None else str(value) for key, value in flags.items()}, profile=profile)


class StackChoice(OptionGroup):
    """The stack and its template parameters, shared by deploy and diff; unset ones come from the
    profile, else keep the stack's current values."""

    stack: StackOpt = None
    auth: Annotated[Optional[Auth], typer.Option(
        "--auth", help="Function URL auth: iam (SigV4, the default) or none (public).", show_default=False)] = None
    shards: Annotated[Optional[int], typer.Option(
        "--shards", min=1, max=100, help="Index shards (may grow, never shrink; default 1).", show_default=False)] = None
    retention_days: Annotated[Optional[int], typer.Option(
        "--retention-days", min=0, help="Days until an entry expires; 0 keeps them (default 30).", show_default=False)] = None
    reserved_concurrency: Annotated[Optional[int], typer.Option(
        "--reserved-concurrency", min=0, help="Reserved concurrency per function, a cost cap; 0 unreserved (default).",
        show_default=False)] = None
    bucket: BucketOpt = None
    region: RegionOpt = None
    profile: ProfileOpt = None

    def settings(self):
        return _settings(self.profile, stack=self.stack, bucket=self.bucket, region=self.region,
                         auth=self.auth.value if self.auth else None, shards=self.shards,
                         retention_days=self.retention_days, reserved_concurrency=self.reserved_concurrency)


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)  # long URLs stay on one line


def _say(message: str) -> None:
    _console().print(message, markup=False)


# -- deploy ----------------------------------------------------------------------------------------


@app.command(rich_help_panel=SERVICE)
@shared_options()
def deploy(
    yes: YesOpt = False,
    smoke: Annotated[bool, typer.Option("--smoke", help="Then send a canary entry and read it back through the URLs.")] = False,
    *,
    choice: StackChoice,
) -> None:
    """Deploy the service (functions, URLs, table, alarms) with a CloudFormation change set, and point the profile at it."""
    from logsvc.deploy import plan
    from logsvc.deploy import stack as stacks
    from logsvc.deploy.template import template_text

    settings = choice.settings()
    _need_confirmation_channel(yes, "deploy")
    prepared = plan.prepare(settings, upload=True)
    where = f"s3://{prepared.bucket}/{prepared.built.key}"
    if prepared.bucket_created:
        _say(f"created the artifact bucket {prepared.bucket} (private, encrypted, versioned)")
    _say(f"{'uploaded' if prepared.uploaded else 'unchanged, not uploaded:'} {where} "
         f"({len(prepared.built.files)} files, {len(prepared.built.data) // 1024} KiB)")
    if prepared.values["AuthType"] == "NONE":
        _say("warning: auth none: the URLs are public; anyone who learns them can write and read entries")
    cfn = prepared.clients.cloudformation
    change_set = stacks.create_change_set(cfn, prepared.current, prepared.stack_name, template_text(), prepared.values)
    if change_set is None:
        _say(f"no changes: stack {prepared.stack_name} in {prepared.region} is up to date")
        final = prepared.current
    else:
        _print_changes(change_set, DiffOutput.table)
        if not yes and not typer.confirm(
                f"{change_set.kind.lower()} stack {prepared.stack_name} in {prepared.region} "
                f"(account {prepared.account})?", default=False, err=True):
            stacks.discard(cfn, change_set)
            raise LogsvcError("deploy declined; nothing was changed")
        with _EventView(f"deploying stack {prepared.stack_name}") as view:
            try:
                final = stacks.execute(cfn, change_set, view.add)
            except stacks.DeployFailed as failed:
                view.stop()
                _print_failures(failed)
                raise
    outputs = stacks.outputs(final)
    new = plan.profile_settings(outputs, prepared.stack_name, choice.bucket)
    plan.record_shards(prepared.clients, new["table"], int(prepared.values["IndexShards"]))
    name, path = _write_profile(settings.profile, new)
    _say(f"stack {prepared.stack_name} is ready; profile {name} ({path}) now sends to it:")
    _say(f"  ingest {new['ingest_url']}\n  read   {new['read_url']}\n  auth   {new['auth']}, region {new['region']}, "
         f"table {new['table']}")
    if smoke:
        from logsvc.config import resolve
        from logsvc.deploy.smoke import smoke as run_smoke

        canary = run_smoke(resolve(profile=name))
        _say(f"smoke test passed: canary {canary['id']} sent and read back")


def _need_confirmation_channel(yes: bool, what: str) -> None:
    if not yes and not sys.stdin.isatty():
        raise UsageError(f"{what} needs confirmation and there is no terminal to ask", hint="add --yes to confirm")


def _write_profile(profile: str, values: dict[str, str]):
    from logsvc.config import load_file, save_file

    data = load_file()
    data.setdefault("profiles", {}).setdefault(profile, {}).update(values)
    return profile, save_file(data)


# -- diff ----------------------------------------------------------------------------------------


@app.command(rich_help_panel=SERVICE)
@shared_options()
def diff(
    output: Annotated[DiffOutput, typer.Option("--output", "-o", help="table, json or markdown (for a pull-request comment).")] = DiffOutput.table,
    *,
    choice: StackChoice,
) -> None:
    """Show what `logsvc deploy` would change, and change nothing. Exit 0: no changes; 6: changes."""
    from logsvc.deploy import plan
    from logsvc.deploy import stack as stacks
    from logsvc.deploy.template import template_text

    prepared = plan.prepare(choice.settings(), upload=False)
    cfn = prepared.clients.cloudformation
    change_set = stacks.create_change_set(cfn, prepared.current, prepared.stack_name, template_text(), prepared.values)
    if change_set is None:
        _print_changes(None, output)
        _say(f"no changes: stack {prepared.stack_name} in {prepared.region} is up to date")
        return
    stacks.discard(cfn, change_set)
    _print_changes(change_set, output)
    raise typer.Exit(int(ExitCode.CHANGES))


def _print_changes(change_set, output: DiffOutput) -> None:
    changes = change_set.changes if change_set else []
    rows = [(c.action, c.logical_id, c.resource_type, c.replacement or "-") for c in changes]
    if output is DiffOutput.json:
        sys.stdout.write(json.dumps({"kind": change_set.kind if change_set else None, "changes": [
            {"action": a, "logicalId": i, "type": t, "replacement": r} for a, i, t, r in rows]}, indent=2) + "\n")
        return
    if output is DiffOutput.markdown:
        if not change_set:
            sys.stdout.write("No changes.\n")
            return
        lines = [f"Change set ({change_set.kind.lower()} of stack `{change_set.stack_name}`):", "",
                 "| action | logical id | type | replacement |", "|---|---|---|---|"]
        lines += [f"| {a} | `{i}` | `{t}` | {r} |" for a, i, t, r in rows]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    if not change_set:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{change_set.kind.lower()} of stack {change_set.stack_name}: {len(rows)} change(s)",
                  title_justify="left")
    for column in ("action", "logical id", "type", "replacement"):
        table.add_column(column)
    styles = {"Add": "green", "Modify": "yellow", "Remove": "red"}
    for action, logical_id, kind, replacement in rows:
        table.add_row(action, logical_id, kind, replacement,
                      style="bold red" if replacement == "True" else styles.get(action))
    Console(highlight=False).print(table)


# -- outputs and destroy ---------------------------------------------------------------------------


@app.command(rich_help_panel=SERVICE)
def outputs(
    stack: StackOpt = None,
    output: Annotated[OutputsOutput, typer.Option("--output", "-o", help="table or json.")] = OutputsOutput.table,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show the deployed stack's outputs: the URLs, the table, the region, the auth type."""
    from logsvc.deploy import stack as stacks

    current, name, region_name, _clients = _existing_stack(profile, stack, region)
    found = stacks.outputs(current)
    if output is OutputsOutput.json:
        sys.stdout.write(json.dumps(found, indent=2, sort_keys=True) + "\n")
        return
    width = max(map(len, found), default=0)
    sys.stdout.write(f"stack {name} ({current['StackStatus']}) in {region_name}\n")
    sys.stdout.write("".join(f"{key:<{width}}  {value}\n" for key, value in sorted(found.items())))


@app.command(rich_help_panel=SERVICE)
def destroy(
    stack: StackOpt = None,
    yes: YesOpt = False,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Delete the deployed stack (the table stays unless keep_table was no) and forget it in the profile."""
    from logsvc.deploy import stack as stacks

    _need_confirmation_channel(yes, "destroy")
    current, name, region_name, clients = _existing_stack(profile, stack, region)
    found = stacks.outputs(current)
    table = found.get("TableName", "the table")
    kept = stacks.parameters(current).get("KeepTable", "true") == "true"
    fate = f"the table {table} is kept, with its entries" if kept else \
        f"the table {table} is DELETED, with every entry in it"
    _say(f"deleting stack {name} in {region_name}: functions, URLs, roles, log groups and alarms go; {fate}")
    if not yes and not typer.confirm(f"delete stack {name}?", default=False, err=True):
        raise LogsvcError("destroy declined; nothing was changed")
    with _EventView(f"deleting stack {name}") as view:
        try:
            stacks.delete(clients.cloudformation, current, view.add)
        except stacks.DeployFailed as failed:
            view.stop()
            _print_failures(failed)
            raise
    forgotten = _forget_stack(profile, name, found)
    _say(f"stack {name} deleted; {fate.replace(' is ', ' was ', 1)}" + (f"; profile {forgotten} forgets it" if forgotten else ""))


def _existing_stack(profile, stack, region):
    from logsvc.deploy import plan
    from logsvc.deploy import stack as stacks
    from logsvc.deploy.aws import Clients

    settings = _settings(profile, stack=stack, region=region)
    name = plan.stack_name(settings)
    clients = Clients(settings["region"], settings["aws_profile"])
    current = stacks.describe(clients.cloudformation, name)
    if current is None:
        raise LogsvcError(f"there is no stack {name!r} in {clients.region}",
                          hint="check --stack and --region, or create it with `logsvc deploy`")
    return current, name, clients.region, clients


def _forget_stack(profile: str | None, name: str, found: dict) -> str | None:
    """Remove the stack's settings from the profile that points at it; that profile's name, or None."""
    from logsvc.config import load_file, resolve, save_file
    from logsvc.deploy.plan import STACK_KEYS

    data = load_file()
    current = resolve(profile=profile).profile
    values = data.get("profiles", {}).get(current)
    if not values or (values.get("stack", "logsvc") != name and values.get("ingest_url") != found.get("IngestUrl")):
        return None
    if values.get("target") == "url" and values.get("ingest_url") == found.get("IngestUrl"):
        values.pop("target")
    for key in STACK_KEYS:
        values.pop(key, None)
    if values.get("ingest_url") is None:
        values.pop("auth", None)
    save_file(data)
    return current


# -- progress ----------------------------------------------------------------------------------------


class _EventView:
    """Stack events as they come: a live table of resources on a terminal, one line each otherwise."""

    def __init__(self, title: str) -> None:
        self._console = _console()
        self._title = title
        self._latest: dict[str, dict] = {}
        self._live = None

    def __enter__(self):
        if self._console.is_terminal:
            from rich.live import Live

            self._live = Live(self._render(), console=self._console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render(settled=True))  # the last picture stays, without the spinner
            self._live.__exit__(None, None, None)
            self._live = None

    def add(self, event: dict) -> None:
        self._latest[event["LogicalResourceId"]] = event
        if self._live is not None:
            self._live.update(self._render())
        else:
            reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
            self._console.print(f"{event['ResourceStatus']:<28} {event['LogicalResourceId']:<30} "
                                f"{event.get('ResourceType', '')}{reason}", markup=False, highlight=False)

    def _render(self, settled: bool = False):
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table

        table = Table(show_edge=False)
        for column in ("resource", "type", "status", "reason"):
            table.add_column(column)
        for logical_id, event in self._latest.items():
            status = event["ResourceStatus"]
            style = "red" if "FAILED" in status or "ROLLBACK" in status else \
                "green" if status.endswith("COMPLETE") else "yellow"
            table.add_row(logical_id, event.get("ResourceType", ""), status,
                          event.get("ResourceStatusReason") or "", style=style)
        return table if settled else Group(Spinner("dots", text=self._title), table)


def _print_failures(failed) -> None:
    console = _console()
    if not failed.failures:
        console.print(f"no resource reported a failure (stack status {failed.status})", markup=False)
        return
    console.print("failed resources:", markup=False)
    for event in failed.failures:
        console.print(f"  {event['LogicalResourceId']} ({event.get('ResourceType', '')}) {event['ResourceStatus']}: "
                      f"{event.get('ResourceStatusReason') or 'no reason given'}", markup=False, highlight=False)
    console.print("the stack rolled back" if failed.rolled_back else f"the stack did not roll back ({failed.status})",
                  markup=False)
