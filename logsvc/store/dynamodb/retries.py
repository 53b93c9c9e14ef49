"""Retries of DynamoDB calls, shared by the write and the read path.

Throttling and transient failures are retried inside the store with exponential backoff and
jitter, within a time budget (`retry_seconds`, plus at most one request timeout); after that
`StoreUnavailable` lists the ids stored and those still pending. An id may be reported pending
although stored (a timeout after the write); sending it again is a harmless replay.
"""

from __future__ import annotations

import random
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
            except (BotoConnectionError, HTTPClientError) as exc:
                failure = type(exc).__name__
            attempt += 1
            if not self._backoff(attempt, deadline):
                raise StoreUnavailable(
                    f"DynamoDB {operation} failed after {attempt} attempts: {failure}"
                )

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


def _error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")
