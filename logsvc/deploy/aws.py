"""botocore clients for deploying, and AWS errors as one-line messages with hints.

The clients come from a botocore session of their own (the AWS environment as it is now, with
`aws_profile` if set). Endpoints are botocore's: AWS_ENDPOINT_URL redirects every service (tests
point it at a moto server).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

from logsvc.aws import credentials_refused, setup_error
from logsvc.errors import LogsvcError, StoreError, UsageError

_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# "User: arn:... is not authorized to perform: cloudformation:CreateChangeSet on resource: ..."
_ACTION_IN_MESSAGE = re.compile(r"perform: ([a-z0-9-]+:[A-Za-z0-9]+)")


class Clients:
    """One botocore session and its clients, made on first use."""

    def __init__(self, region: str | None, aws_profile: str | None = None) -> None:
        import botocore.session
        from botocore.config import Config

        with translate():
            self._session = botocore.session.Session(profile=aws_profile)
            if region:
                self._session.set_config_variable("region", region)
        self._config = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=30)
        self._clients: dict[str, object] = {}

    @property
    def region(self) -> str:
        region = self._session.get_config_variable("region")
        if not region:
            raise UsageError("no AWS region is configured",
                             hint="set AWS_REGION, `logsvc config set region REGION`, or pass --region")
        return region

    def __getattr__(self, service: str):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._clients:
            with translate():
                self._clients[service] = self._session.create_client(service, region_name=self.region,
                                                                     config=self._config)
        return self._clients[service]

    def account(self) -> str:
        with translate("sts"):
            return self.sts.get_caller_identity()["Account"]


@contextmanager
def translate(service: str | None = None) -> Iterator[None]:
    """botocore's exceptions as LogsvcError with a hint; other AWS errors keep their code and message.

    `service` (the IAM prefix: cloudformation, s3, ...) names the action when access is denied.
    """
    from botocore import exceptions as boto

    try:
        yield
    except (boto.NoRegionError, boto.NoCredentialsError, boto.PartialCredentialsError, boto.ProfileNotFound,
            boto.SSOTokenLoadError, boto.UnauthorizedSSOTokenError, boto.TokenRetrievalError) as exc:
        raise setup_error(exc) from None
    except (boto.EndpointConnectionError, boto.ConnectTimeoutError, boto.ReadTimeoutError) as exc:
        raise StoreError(f"cannot reach AWS: {exc}", hint="check the network and the region") from None
    except boto.ClientError as exc:
        raise client_error(exc, service) from None


def client_error(exc, service: str | None = None) -> LogsvcError:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    refused = credentials_refused(code)
    if refused is not None:
        return refused
    if code in _DENIED or code == "403":
        action = _denied_action(exc, message, service)
        return StoreError(f"access denied: the identity may not call {action}",
                          hint=f"allow {action} in the deploying role's policy (see the README's Deploy section)")
    return LogsvcError(f"AWS error {code}: {message}" if message else f"AWS error {code}")


def _denied_action(exc, message: str, service: str | None) -> str:
    found = _ACTION_IN_MESSAGE.search(message)
    if found:
        return found.group(1)
    operation = getattr(exc, "operation_name", "") or "the operation"
    if operation == "HeadBucket":
        operation = "ListBucket"  # HeadBucket is authorised by s3:ListBucket
    elif operation == "HeadObject":
        operation = "GetObject"
    return f"{service}:{operation}" if service else operation
