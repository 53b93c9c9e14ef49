"""The stack: change sets (made, waited for, read, executed or discarded), events, outputs, deletion.

Callers pass a botocore CloudFormation client and get plain data back; progress is reported
through an ``on_event`` callback (the CLI draws it), so nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from logsvc.deploy.aws import translate
from logsvc.errors import LogsvcError

# CloudFormation's reasons for a change set that changes nothing (the second is moto's and UpdateStack's).
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
_ROLLED_BACK = {"ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}
_MUST_DELETE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"}
CAPABILITIES = ["CAPABILITY_IAM"]  # the template makes roles (with generated names)

OnEvent = Callable[[dict], None]


class DeployError(LogsvcError):
    """A stack or change set that cannot be used or did not succeed."""


class DeployFailed(DeployError):
    """An execution or deletion that ended badly: the failed resources and whether it rolled back."""

    def __init__(self, message: str, *, status: str, failures: list[dict], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.failures = failures

    @property
    def rolled_back(self) -> bool:
        return self.status in _ROLLED_BACK


@dataclass(frozen=True)
class Change:
    action: str  # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    resource_type: str
    replacement: str  # True, False, Conditional, or "" when it does not apply


@dataclass
class ChangeSet:
    id: str
    stack_id: str
    stack_name: str
    kind: str  # CREATE or UPDATE
    changes: list[Change] = field(default_factory=list)


def describe(cfn, name: str) -> dict | None:
    """The stack's description, or None when there is no such stack (or it was deleted)."""
    from botocore.exceptions import ClientError

    with translate("cloudformation"):
        try:
            stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
                return None
            raise
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return stacks[0]


def check_changeable(stack: dict | None) -> None:
    """DeployError unless the stack is absent or settled in a state a change set may start from."""
    if stack is None:
        return
    name, status = stack["StackName"], stack["StackStatus"]
    if status == "REVIEW_IN_PROGRESS":
        return  # created by a change set never executed: a new CREATE change set replaces it
    if status.endswith("_IN_PROGRESS"):
        raise DeployError(f"stack {name!r} is busy ({status})",
                          hint="wait until it settles, then run the command again")
    if status in _MUST_DELETE:
        raise DeployError(f"stack {name!r} failed to create ({status}) and must be deleted first",
                          hint=f"run `logsvc destroy --stack {name}`, then deploy again")
    if status == "UPDATE_ROLLBACK_FAILED":
        raise DeployError(f"stack {name!r} could not roll back its last update ({status})",
                          hint="fix the cause, then continue the rollback in the CloudFormation console")


def parameters(stack: dict | None) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])}


def outputs(stack: dict | None) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}


def create_change_set(cfn, stack: dict | None, name: str, template: str, values: dict[str, str], *,
                      poll: float = 2.0, timeout: float = 600.0, sleep=time.sleep) -> ChangeSet | None:
    """Make a change set for `template` with parameter `values` and wait for it.

    Returns None when it would change nothing (the change set is deleted again); DeployError when
    CloudFormation refuses it (deleted again too, with the stack it created if it created one).
    """
    check_changeable(stack)
    kind = "CREATE" if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    with translate("cloudformation"):
        made = cfn.create_change_set(
            StackName=name, ChangeSetName=f"logsvc-{stamp}", ChangeSetType=kind, TemplateBody=template,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())],
            Capabilities=CAPABILITIES, Description="logsvc deploy",
        )
        change_set = ChangeSet(made["Id"], made["StackId"], name, kind)
        deadline = time.monotonic() + timeout
        while True:
            described = cfn.describe_change_set(ChangeSetName=change_set.id)
            status = described["Status"]
            if status == "CREATE_COMPLETE":
                break
            if status == "FAILED":
                reason = described.get("StatusReason", "")
                discard(cfn, change_set)
                if any(marker in reason for marker in _NO_CHANGES):
                    return None
                raise DeployError(f"CloudFormation refused the change set: {reason or status}",
                                  hint="fix the parameters or the template; nothing was changed")
            if time.monotonic() > deadline:
                raise DeployError(f"the change set was not ready after {timeout:.0f} s ({status})")
            sleep(poll)
        change_set.changes = _changes(cfn, change_set.id, described)
    return change_set


def _changes(cfn, change_set_id: str, page: dict) -> list[Change]:
    changes = []
    while True:
        for item in page.get("Changes", []):
            resource = item.get("ResourceChange", {})
            changes.append(Change(resource.get("Action", ""), resource.get("LogicalResourceId", ""),
                                  resource.get("ResourceType", ""), str(resource.get("Replacement", "") or "")))
        token = page.get("NextToken")
        if not token:
            return changes
        page = cfn.describe_change_set(ChangeSetName=change_set_id, NextToken=token)


def discard(cfn, change_set: ChangeSet) -> None:
    """Delete the change set, and the empty stack a CREATE change set made."""
    with translate("cloudformation"):
        cfn.delete_change_set(ChangeSetName=change_set.id)
        if change_set.kind == "CREATE":
            stack = describe(cfn, change_set.stack_id)
            if stack is not None and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                cfn.delete_stack(StackName=change_set.stack_id)


def execute(cfn, change_set: ChangeSet, on_event: OnEvent = lambda event: None, *,
            poll: float = 2.0, timeout: float = 3600.0, sleep=time.sleep) -> dict:
    """Execute the change set and wait for the stack to settle; the final stack, or DeployFailed."""
    with translate("cloudformation"):
        seen = _event_ids(cfn, change_set.stack_id)
        cfn.execute_change_set(ChangeSetName=change_set.id)
    stack, events = wait(cfn, change_set.stack_id, seen, on_event, poll=poll, timeout=timeout, sleep=sleep)
    status = stack["StackStatus"]
    if status not in _SUCCESS:
        failures = [e for e in events if e["ResourceStatus"].endswith("_FAILED")]
        if status in _ROLLED_BACK:
            what = "the stack rolled back" if status == "UPDATE_ROLLBACK_COMPLETE" else \
                "the stack rolled back and must be deleted before the next deploy"
        else:
            what = "the stack did not roll back"
        hint = f"run `logsvc destroy --stack {change_set.stack_name}`, then deploy again" \
            if status == "ROLLBACK_COMPLETE" else None
        raise DeployFailed(f"deploy failed ({status}): {what}", status=status, failures=failures, hint=hint)
    return stack


def delete(cfn, stack: dict, on_event: OnEvent = lambda event: None, *,
           poll: float = 2.0, timeout: float = 3600.0, sleep=time.sleep) -> None:
    """Delete the stack and wait until it is gone; DeployFailed with the resources that stayed."""
    stack_id = stack["StackId"]
    with translate("cloudformation"):
        seen = _event_ids(cfn, stack_id)
        cfn.delete_stack(StackName=stack_id)
    final, events = wait(cfn, stack_id, seen, on_event, poll=poll, timeout=timeout, sleep=sleep)
    if final["StackStatus"] != "DELETE_COMPLETE":
        failures = [e for e in events if e["ResourceStatus"].endswith("_FAILED")]
        raise DeployFailed(f"the stack could not be deleted ({final['StackStatus']})",
                           status=final["StackStatus"], failures=failures,
                           hint="remove what blocks the failed resources, then run destroy again")


def wait(cfn, stack_id: str, seen: set[str], on_event: OnEvent, *, poll: float, timeout: float,
         sleep=time.sleep) -> tuple[dict, list[dict]]:
    """Poll the stack until it leaves *_IN_PROGRESS, passing each new event to `on_event`, oldest first."""
    deadline = time.monotonic() + timeout
    events: list[dict] = []
    with translate("cloudformation"):
        while True:
            for event in _new_events(cfn, stack_id, seen):
                events.append(event)
                on_event(event)
            stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
            if not stack["StackStatus"].endswith("_IN_PROGRESS"):
                for event in _new_events(cfn, stack_id, seen):  # the last ones, written as it settled
                    events.append(event)
                    on_event(event)
                return stack, events
            if time.monotonic() > deadline:
                raise DeployError(f"the stack is still {stack['StackStatus']} after {timeout:.0f} s",
                                  hint="it goes on in AWS: watch it in the CloudFormation console")
            sleep(poll)


def _event_ids(cfn, stack_id: str) -> set[str]:
    """The ids of the events already there (the newest page is enough: older ones end the search)."""
    page = cfn.describe_stack_events(StackName=stack_id)
    return {event["EventId"] for event in page.get("StackEvents", [])}


def _new_events(cfn, stack_id: str, seen: set[str]) -> list[dict]:
    """Events not seen yet, oldest first. Pages are newest first: stop at the first seen event."""
    fresh: list[dict] = []
    request = {"StackName": stack_id}
    while True:
        page = cfn.describe_stack_events(**request)
        for event in page.get("StackEvents", []):
            if event["EventId"] in seen:
                break
            fresh.append(event)
        else:
            if page.get("NextToken"):
                request["NextToken"] = page["NextToken"]
                continue
        break
    seen.update(event["EventId"] for event in fresh)
    return list(reversed(fresh))
