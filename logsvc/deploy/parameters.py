"""The template's parameters as deploy settings: flag > LOGSVC_<KEY> > profile > default.

Every template parameter but the code location has a setting of the same meaning in the profile
(`logsvc config set retention_days 90`); `CodeBucket` and `CodeKey` come from the upload.
"""

from __future__ import annotations

from dataclasses import dataclass

from logsvc.errors import UsageError

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
DEFAULT_STACK = "logsvc"


@dataclass(frozen=True)
class Parameter:
    setting: str  # the profile key
    name: str  # the template parameter
    default: str  # the setting's default (the template's, in the setting's own words)
    help: str


PARAMETERS = (
    Parameter("auth", "AuthType", "iam", "Function URL auth: iam (SigV4) or none (public)"),
    Parameter("shards", "IndexShards", "1", "index shards, 1-100; may grow, never shrink"),
    Parameter("retention_days", "RetentionDays", "30", "days until an entry expires; 0 keeps entries"),
    Parameter("settle_seconds", "SettleSeconds", "5", "the tail's settle window in seconds"),
    Parameter("reserved_concurrency", "ReservedConcurrency", "0", "reserved concurrency per function; 0 unreserved"),
    Parameter("log_retention_days", "LogRetentionDays", "14", "days CloudWatch keeps the functions' logs"),
    Parameter("alarms", "Alarms", "on", "CloudWatch alarms: on or off"),
    Parameter("alarm_topic", "AlarmTopicArn", "", "SNS topic ARN the alarms notify (empty: none)"),
    Parameter("ingest_alarm_threshold", "IngestInvocationsThreshold", "100000",
              "ingest invocations per hour that raise the cost alarm"),
    Parameter("keep_table", "KeepTable", "yes", "keep the table when the stack is deleted: yes or no (fixed at creation)"),
)
BY_SETTING = {parameter.setting: parameter for parameter in PARAMETERS}


def template_parameters(values: dict[str, str | None]) -> dict[str, str]:
    """Template parameter values from settings (None or missing: the default); UsageError if invalid."""
    result = {}
    for parameter in PARAMETERS:
        raw = values.get(parameter.setting)
        text = parameter.default if raw is None else str(raw).strip()
        result[parameter.name] = _convert(parameter, text)
    return result


def _convert(parameter: Parameter, text: str) -> str:
    setting = parameter.setting
    if setting == "auth":
        return {"iam": "AWS_IAM", "none": "NONE"}[_choice(setting, text.lower(), ("iam", "none"))]
    if setting in ("alarms", "keep_table"):
        choices = ("on", "off") if setting == "alarms" else ("yes", "no")
        return "true" if _choice(setting, text.lower(), choices) == choices[0] else "false"
    if setting == "alarm_topic":
        if text and not text.startswith("arn:"):
            raise UsageError(f"{setting} {text!r} is not an SNS topic ARN", hint="arn:aws:sns:REGION:ACCOUNT:NAME")
        return text
    if setting == "settle_seconds":
        try:
            number = float(text)
        except ValueError:
            number = -1.0
        if not 0 <= number <= 3600:
            raise UsageError(f"{setting} {text!r} is not a number of seconds from 0 to 3600")
        return text
    low, high = {"shards": (1, 100), "ingest_alarm_threshold": (1, 10**12)}.get(setting, (0, 10**6))
    if not text.isdigit() or not low <= int(text) <= high:
        raise UsageError(f"{setting} {text!r} is not a whole number from {low} to {high}")
    if setting == "log_retention_days" and int(text) not in LOG_RETENTION_DAYS:
        raise UsageError(f"log_retention_days {text} is not a period CloudWatch Logs offers",
                         hint=f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return str(int(text))


def _choice(setting: str, text: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise UsageError(f"{setting} {text!r} is not one of {', '.join(choices)}")
    return text
