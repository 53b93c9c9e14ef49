"""Test-only patches that make moto's CloudFormation behave like CloudFormation for `logsvc deploy`.

Written for moto 5.2.5 (the `test` extra pins it; `install` refuses another version, because these
patches reach into moto's internals). Everything runs in the test process, inside the
ThreadedMotoServer's thread, and never in the package.

What moto 5.2.5 lacks, and what this adds:

- ``AWS::Lambda::Url``: moto says "No Moto CloudFormation support" and creates nothing. `FunctionUrl`
  creates the URL config through moto's Lambda backend and answers ``!GetAtt X.FunctionUrl``.
  `URLS` lets a test point a function's URL at a real local server (`logsvc serve`) instead of
  moto's made-up host, so `deploy --smoke` can be tested end to end.
- ``AWS::CloudWatch::Alarm``: likewise unsupported; `MetricAlarm` puts a real moto alarm.
- Outputs: moto builds a stack's Outputs when the stack is created (an empty template for a
  change set) and never again, so they vanish after ``execute_change_set``; rebuilt here after
  every execution. The stack's parameters are also updated, so that an unchanged redeploy is seen
  as unchanged.
- Changes: moto lists only resources whose template text changed; CloudFormation also lists those
  that use a changed parameter (moto's own update logic knows them), with a Replacement field.
- "No changes": for an update with the same template and parameters moto's CreateChangeSet raises
  "No updates are to be performed"; CloudFormation instead creates the change set and marks it
  FAILED ("didn't contain changes"), which moto's backend does itself once the check is removed.
- A change set CloudFormation refuses (a template or early-validation error): moto refuses none
  but "no changes"; the reasons in `FAIL_CHANGE_SETS` mark the next change sets FAILED.
- Resource events: moto records only stack events; CREATE/UPDATE_IN_PROGRESS, _COMPLETE and
  _FAILED events are added per resource.
- Failures and rollback: moto has none (its execute is "TODO: handle execution errors"). A resource
  named in `FAIL` raises when created, as a quota or conflict would in AWS; the execution then
  ends as CloudFormation's does: the resource CREATE_FAILED with the reason, the stack
  ROLLBACK_COMPLETE (a create) or UPDATE_ROLLBACK_COMPLETE (an update). Limits: the resources
  created before the failure are not deleted, and an update rollback does not restore the old
  resources; the tests look only at statuses, events and the CLI's output.

Not covered: a resource whose Condition turns true in an update is not created by moto (it diffs
resources by their text and parameter references, not conditions); stack policies, nested stacks, drift, asynchronous timing (moto does everything
inside each call, so waits end at the first poll).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel

MOTO_VERSION = "5.2.5"

URLS: dict[str, str] = {}  # function name -> the URL its Function URL reports
FAIL: dict[str, str] = {}  # logical id -> the reason its creation fails with
FAIL_CHANGE_SETS: list[str] = []  # reasons: the next change sets are FAILED with these, in order


class FunctionUrl(CloudFormationModel):
    """AWS::Lambda::Url over moto's Lambda backend."""

    __module__ = "tests.moto_cfn_shim"  # moto's model registry wants a dotted module name

    def __init__(self, function_name: str, url: str, account_id: str, region_name: str) -> None:
        self.function_name = function_name
        self.url = url
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.function_name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionUrl", "FunctionArn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "FunctionUrl":
            return self.url
        return self.function_name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.awslambda.models import lambda_backends

        props = cloudformation_json["Properties"]
        backend = lambda_backends[account_id][region_name]
        target = props["TargetFunctionArn"]
        config = backend.create_function_url_config(target, {"AuthType": props["AuthType"],
                                                             "InvokeMode": props.get("InvokeMode", "BUFFERED")})
        name = config.function.function_name
        url = URLS.get(name, config.url + "/")
        return cls(name, url, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        from moto.awslambda.models import lambda_backends

        props = cloudformation_json["Properties"]
        lambda_backends[account_id][region_name].update_function_url_config(
            original_resource.function_name, {"AuthType": props["AuthType"]})
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.models import lambda_backends

        try:
            lambda_backends[account_id][region_name].delete_function_url_config(self.function_name)
        except UnknownFunctionException:
            pass  # moto deletes in no particular order: the function (and its URL) may be gone


class MetricAlarm(CloudFormationModel):
    """AWS::CloudWatch::Alarm as a moto alarm named after the stack and logical id."""

    __module__ = "tests.moto_cfn_shim"

    def __init__(self, name: str) -> None:
        self.name = name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name, namespace=props["Namespace"], metric_name=props["MetricName"],
            comparison_operator=props["ComparisonOperator"], evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props["Period"]), threshold=float(props["Threshold"]), statistic=props["Statistic"],
            description=props.get("AlarmDescription", ""), dimensions=props.get("Dimensions", []),
            alarm_actions=props.get("AlarmActions", []), treat_missing_data=props.get("TreatMissingData"))
        return cls(resource_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id,
                                                   region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


def _stack_of(resources_map) -> Any:
    backend = cfn_models.cloudformation_backends[resources_map._account_id][resources_map._region_name]
    return backend.stacks.get(resources_map.stack_id)


def _resource_event(stack, logical_id: str, resource_type: str, status: str, reason: str | None = None,
                    physical_id: str = "") -> None:
    if stack is None:
        return
    stack.events.append(cfn_models.Event(stack.stack_id, stack.name, logical_id, physical_id, resource_type,
                                         status, reason, None))


class ResourceFailed(Exception):
    def __init__(self, logical_id: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason


def _with_events(original, verb: str):
    def wrapped(logical_id, resource_json, resources_map, account_id, region_name):
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return original(logical_id, resource_json, resources_map, account_id, region_name)
        stack = _stack_of(resources_map)
        kind = resource_json["Type"]
        _resource_event(stack, logical_id, kind, f"{verb}_IN_PROGRESS")
        if logical_id in FAIL:
            if logical_id not in _failed:  # moto retries a failed update a few times: one event
                _failed.add(logical_id)
                _resource_event(stack, logical_id, kind, f"{verb}_FAILED", FAIL[logical_id])
            raise ResourceFailed(logical_id, FAIL[logical_id])
        try:
            resource = original(logical_id, resource_json, resources_map, account_id, region_name)
        except Exception as exc:
            _resource_event(stack, logical_id, kind, f"{verb}_FAILED", str(exc))
            raise ResourceFailed(logical_id, str(exc)) from exc
        physical = getattr(resource, "physical_resource_id", "") if resource is not None else ""
        _resource_event(stack, logical_id, kind, f"{verb}_COMPLETE", physical_id=str(physical or ""))
        return resource

    wrapped.shim_original = original
    return wrapped


_failed: set[str] = set()


def _execute_change_set(original):
    def execute(self, change_set_name: str, stack_name: str | None = None) -> None:
        _failed.clear()
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        try:
            original(self, change_set_name, stack_name)
        except ResourceFailed as exc:
            create = change_set.change_set_type == "CREATE"
            prefix = "" if create else "UPDATE_"
            stack._add_stack_event(f"{prefix}ROLLBACK_IN_PROGRESS",
                                   resource_status_reason=f"The following resource(s) failed to "
                                                          f"{'create' if create else 'update'}: [{exc.logical_id}]. ")
            stack._add_stack_event(f"{prefix}ROLLBACK_COMPLETE")
            stack.status = f"{prefix}ROLLBACK_COMPLETE"
            change_set.execution_status = "EXECUTE_FAILED"
            return
        stack.parameters = dict(change_set.parameters)
        stack._parse_template()  # moto set stack.template but left the parsed copy stale
        stack.output_map = stack._create_output_map()

    execute.shim_original = original
    return execute


def _diff(original):
    def diff(self) -> list:
        resource_map = self.stack.resource_map
        old, new = resource_map._resource_json_map, self.template_dict["Resources"]
        changes = []
        for action, names in resource_map.build_resource_diff(self.template_dict, self.parameters).items():
            for name in names:
                change = cfn_models.Change(action, name, (new.get(name) or old[name])["Type"])
                change.replacement = "False" if action == "Modify" else None
                changes.append(change)
        return changes

    diff.shim_original = original
    return diff


def _create_change_set(original):
    def create(self, *args, **kwargs):
        change_set_id, stack_id = original(self, *args, **kwargs)
        if FAIL_CHANGE_SETS:
            change_set = self.change_sets[change_set_id]
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason = FAIL_CHANGE_SETS.pop(0)
        return change_set_id, stack_id

    create.shim_original = original
    return create


def _no_validate_different_update(self, incoming_params, stack_body, old_stack) -> None:
    return None


_PATCHES = (
    (parsing, "parse_and_create_resource", lambda f: _with_events(f, "CREATE")),
    (parsing, "parse_and_update_resource", lambda f: _with_events(f, "UPDATE")),
    (cfn_models.CloudFormationBackend, "execute_change_set", _execute_change_set),
    (cfn_models.ChangeSet, "diff", _diff),
    (cfn_models.CloudFormationBackend, "create_change_set", _create_change_set),
    (cfn_responses.CloudFormationResponse, "_validate_different_update", lambda f: _no_validate_different_update),
)
_saved: list[tuple[object, str, object]] = []


def _clear_model_caches() -> None:
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def install() -> None:
    """Apply the patches (idempotent). Refuses a moto other than the one they were written for."""
    installed = importlib.metadata.version("moto")
    if installed != MOTO_VERSION:
        raise RuntimeError(f"tests/moto_cfn_shim.py was written for moto {MOTO_VERSION}, not {installed}: "
                           "check each patch against the new version, then update MOTO_VERSION and the pin")
    if _saved:
        return
    for owner, name, make in _PATCHES:
        original = getattr(owner, name)
        _saved.append((owner, name, original))
        setattr(owner, name, make(original))
    _clear_model_caches()  # the Url and Alarm models are subclasses defined above


def uninstall() -> None:
    while _saved:
        owner, name, original = _saved.pop()
        setattr(owner, name, original)
    URLS.clear()
    FAIL.clear()
    FAIL_CHANGE_SETS.clear()
