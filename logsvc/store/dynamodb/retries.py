"""Retries of DynamoDB calls, shared by the write and the read path.

Throttling and transient failures are retried inside the store with exponential backoff and
jitter, within a time budget (`retry_seconds`, plus at most one request timeout); after that
`StoreUnavailable` lists the ids stored and those still pending. An id may be reported pending
although stored (a timeout after the write); sending it again is a harmless replay.
"""

from __future__ import annotations

import random
import socket
import time

from logsvc.store import StoreMisconfigured, StoreUnavailable

# Error codes worth retrying: throttling and server-side trouble.
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
# Errors that retrying cannot fix but that mean "the store cannot be used", not a bug here.
_UNAVAILABLE_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


class _Retries:
    """The retry loop of `DynamoDBStore`.

    Uses its `table_name`, `_client`, `_max_attempts` and `_retry_seconds`.
    """

    def _call(self, operation: str, deadline: float | None, **kwargs) -> dict:
        """Call a client operation, retrying throttling and transient failures within the budget.

        Raises StoreUnavailable when retries are exhausted or the table cannot be used; other
        client errors (conditional check failures, validation errors) propagate unchanged.
        """
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if deadline is None:
            deadline = time.monotonic() + self._retry_seconds
        method = getattr(self._client, operation)
        attempt = 0
        while True:
            try:
                return method(**kwargs)
            except ClientError as exc:
                code = _error_code(exc)
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                if code in _UNAVAILABLE_CODES:
                    raise StoreMisconfigured(f"DynamoDB table {self.table_name!r} cannot be used: {code}", code) from exc
                if code not in _RETRYABLE_CODES and status < 500:
                    raise
                failure = f"{code or status}"
                hint = None
            except (BotoConnectionError, HTTPClientError) as exc:
                failure, hint = _connection_problem(self._client, exc)
                if hint is _UNKNOWN_HOST:  # DNS says the name does not exist: retrying cannot help
                    raise StoreMisconfigured(failure, "UnknownHost") from exc
            attempt += 1
            if not self._backoff(attempt, deadline):
                tries = f"{attempt} attempt{'s' if attempt != 1 else ''}"
                if hint is None:
                    raise StoreUnavailable(f"DynamoDB {operation} failed after {tries}: {failure}")
                raise StoreUnavailable(f"{failure} (DynamoDB {operation}, {tries})", hint=hint)

    def _backoff(self, attempt: int, deadline: float) -> bool:
        """Sleep before retry `attempt` (1-based); False when the attempts or the budget are spent."""
        if attempt >= self._max_attempts:
            return False
        ceiling = min(1.0, 0.025 * 2**attempt)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never a busy retry
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        return True


_UNKNOWN_HOST = "unknown host"


def _connection_problem(client, exc) -> tuple[str, str]:
    """What went wrong reaching the endpoint, in words, and what to check (the actual cause)."""
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None) or "DynamoDB"
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = getattr(cause, "kwargs", {}).get("error") or cause.__cause__ or cause.__context__
    text = " ".join(str(cause) for cause in causes)
    unknown = (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME))
    if any(isinstance(cause, socket.gaierror) and cause.errno in unknown for cause in causes) or any(
            phrase in text for phrase in ("Name or service not known", "nodename nor servname")):
        return f"the host of {endpoint} does not exist (DNS)", _UNKNOWN_HOST
    if any(isinstance(cause, socket.gaierror) for cause in causes) or "name resolution" in text:
        return (f"cannot resolve the host of {endpoint} (DNS)",
                "the DNS lookup failed: check this machine's network and DNS, then try again")
    if isinstance(exc, ReadTimeoutError):
        return f"{endpoint} did not answer in time", "the endpoint accepts connections but does not answer; try again shortly"
    if isinstance(exc, ConnectTimeoutError):
        return f"cannot connect to {endpoint} (timed out)", "check the endpoint URL and this machine's network"
    return (f"cannot connect to {endpoint}",
            "nothing answers there: check the endpoint URL, and that the service (or local DynamoDB) is running")


def _error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")
