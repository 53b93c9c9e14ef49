"""What both handlers share: reading Function URL events, JSON responses, the store, failure logs.

Environment (read on the first request, never at import):

``TABLE_NAME``      the DynamoDB table (required)
``INDEX_SHARDS``    shard count of the time index; unset: read from the table's settings item
``RETENTION_DAYS``  days until an entry expires (TTL); 0 or unset: never
``SETTLE_SECONDS``  the tail's settle window, default 5
``AWS_REGION``      the region (Lambda sets it); else boto3's own AWS_DEFAULT_REGION
``AWS_ENDPOINT_URL`` honoured by boto3 itself (a local DynamoDB, tests)

Logging is for failures only: nothing on success; on a failure (5xx) the event, with its
credentials and cookies redacted, and the stack trace. Responses never carry a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from logsvc.entry import MAX_BATCH_BYTES
from logsvc.errors import StoreError, StoreFull
from logsvc.store import StoreMisconfigured, StoreUnavailable
from logsvc.times import TimeFormatError, parse_instant

logger = logging.getLogger("logsvc.handler")

MAX_BODY_BYTES = MAX_BATCH_BYTES  # the limit clients split their batches under
MAX_QUERY_FIELDS = 50
RETRY_AFTER_SECONDS = 1
WIRE_FIELDS = ("id", "dateTime", "severity", "message", "source")

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-amz-security-token", "cookie", "x-api-key"})
_REDACTED = "[redacted]"
_LOGGED_BODY_CHARS = 4096

Response = dict
Handle = Callable[[dict, object], Response]


class HttpError(Exception):
    """A request that gets an error response: status, one sentence per problem, extra body fields."""

    def __init__(self, status: int, errors: list[str], **extra) -> None:
        super().__init__("; ".join(errors))
        self.status = status
        self.errors = errors
        self.extra = extra

    def response(self) -> Response:
        return json_response(self.status, {"errors": self.errors, **self.extra})


class Misconfigured(Exception):
    """The environment does not describe a usable store."""


class Request:
    """The parts of a Function URL event (payload 2.0) the handlers use."""

    __slots__ = ("method", "headers", "query", "body")

    def __init__(self, method: str, headers: dict[str, str], query: list[tuple[str, str]], body: bytes | None) -> None:
        self.method = method
        self.headers = headers
        self.query = query
        self.body = body


def parse_event(event: dict) -> Request:
    """Read method, lower-cased headers, query pairs and the (base64-decoded) body of an event.

    Raises HttpError(400) for a body flagged base64 that is not, or for an absurd query string.
    """
    context = event.get("requestContext") or {}
    # (no method: "" or any other default is equally not GET/POST, a 405 either way)
    method = str((context.get("http") or {}).get("method") or "").upper()
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}

    # rawQueryString keeps repeated parameters (queryStringParameters joins them with commas).
    raw_query = event.get("rawQueryString")
    if isinstance(raw_query, str):
        try:
            query = parse_qsl(raw_query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            raise HttpError(400, [f"too many query parameters (at most {MAX_QUERY_FIELDS})"]) from None
    else:
        query = [(str(name), str(value)) for name, value in (event.get("queryStringParameters") or {}).items()]

    body = event.get("body")
    if body is None:
        data = None  # (b"" would be equivalent: an empty body either way)
    elif event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, ["the request body is flagged base64 but is not valid base64"]) from None
    else:
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)  # ("UTF-8": equivalent)
    return Request(method, headers, query, data)


def json_response(status: int, payload: dict, *, headers: dict | None = None) -> Response:
    """A Function URL response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(payload, ensure_ascii=False),  # (ensure_ascii=None: equivalent)
    }


def method_not_allowed(allowed: str) -> Response:
    return json_response(
        405, {"errors": [f"method not allowed: use {allowed}"]}, headers={"allow": allowed}
    )


# What a store raises when it cannot be used right now: DynamoDB throttled or unreachable
# (StoreUnavailable), or the local SQLite file busy or unreadable (StoreError).
UNAVAILABLE = (StoreUnavailable, StoreError)


def unavailable_response(event: dict, exc: StoreUnavailable | StoreError) -> Response:
    """503 with Retry-After, listing what was stored before giving up; logged as a failure.

    A store that cannot be used until someone fixes it (no such table, access denied, bad keys)
    is a 500 without Retry-After instead: a 503 would have clients retry and spool forever.
    """
    if isinstance(exc, StoreMisconfigured):
        return misconfigured_response(event, exc)
    if isinstance(exc, StoreFull):
        log_failure(event, f"store full: {exc}")
        # 507, not 503: retrying in a second will not help; nothing of the request was stored.
        return json_response(
            507,
            {"errors": ["the server's disk is full: nothing of this request was stored; send it again once"
                        " its operator has freed space"], "stored": [], "pending": []},
        )
    log_failure(event, f"store unavailable: {exc}", exc_info=exc)
    return json_response(
        503,
        {
            "errors": ["the log store is busy or unreachable; retry shortly"],
            "stored": getattr(exc, "stored", []),
            "pending": getattr(exc, "pending", []),
        },
        headers={"retry-after": str(RETRY_AFTER_SECONDS)},
    )


_NO_TABLE = "its table is missing or not accessible"
_MISCONFIGURED = {"ShardCountMismatch": "INDEX_SHARDS disagrees with the shard count of its table"}


def misconfigured_response(event: dict, exc: StoreMisconfigured) -> Response:
    """500 saying the service is misconfigured; the cause is logged once per process, not per request."""
    cause = f"store misconfigured: {exc}"
    if cause not in _logged_causes:
        _logged_causes.add(cause)
        log_failure(event, cause)
    return json_response(
        500,
        {
            "errors": [f"the service is misconfigured ({exc.code}: {_MISCONFIGURED.get(exc.code, _NO_TABLE)});"
                       " retrying will not help until its operator fixes it"],
            "stored": exc.stored,  # a StoreMisconfigured always has both
            "pending": exc.pending,
        },
    )


def wire(entry: dict) -> dict:
    """An entry as the service returns it: id, dateTime, severity, message, and source if any."""
    return {key: entry[key] for key in WIRE_FIELDS if entry.get(key) is not None}


# -- the store configured by the environment --------------------------------------------------------

_env_store = None
_logged_causes: set[str] = set()


def env_store():
    """The DynamoDB store described by the environment, built on first use and then reused."""
    global _env_store
    if _env_store is None:
        table = os.environ.get("TABLE_NAME", "").strip()
        if not table:
            raise Misconfigured("service misconfigured: TABLE_NAME is not set")
        shards = _env_number("INDEX_SHARDS", int, None, minimum=1)
        retention = _env_number("RETENTION_DAYS", int, 0, minimum=0)
        settle = _env_number("SETTLE_SECONDS", float, 5.0, minimum=0)
        from logsvc.store.dynamodb import DynamoDBStore

        try:
            _env_store = DynamoDBStore(
                table,
                shards=shards,
                retention_days=retention,
                settle_seconds=settle,
                # Lambda sets AWS_REGION; botocore itself only reads AWS_DEFAULT_REGION.
                region=os.environ.get("AWS_REGION") or None,
            )
        except ValueError as exc:  # e.g. a shard count above the maximum
            raise Misconfigured(f"service misconfigured: {exc}") from None
    return _env_store


def reset() -> None:
    """Forget the cached store and the causes already logged (tests change the environment)."""
    global _env_store
    if _env_store is not None:
        _env_store.close()
    _env_store = None
    _logged_causes.clear()


def _env_number(name: str, kind: type, default, *, minimum):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < minimum or value != value:  # value != value: NaN
        raise Misconfigured(f"service misconfigured: {name} must be a number of at least {minimum}, not {text[:40]!r}")
    return value


def run(event: dict, handle: Handle) -> Response:
    """The Lambda boundary: the env store, `handle`, and a logged 500 for anything unexpected."""
    try:
        store = env_store()
    except Misconfigured as exc:
        cause = str(exc)
        if cause not in _logged_causes:  # once per process, not once per request
            _logged_causes.add(cause)
            logger.error(cause)
        return json_response(500, {"errors": [cause]})
    try:
        return handle(event, store)
    except Exception as exc:  # noqa: BLE001 - not hidden: logged with its trace, the caller gets a bare 500
        log_failure(event, "unhandled error", exc_info=exc)
        return json_response(500, {"errors": ["internal error; the service logged the details"]})


# -- failure logs ---------------------------------------------------------------------------------


def redact(event: object) -> object:
    """A copy of the event safe to log: credentials and cookies hidden, a long body cut."""
    if not isinstance(event, dict):
        return event
    safe = dict(event)
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if isinstance(headers, dict):
            safe[key] = {
                name: _REDACTED if str(name).lower() in _SECRET_HEADERS else value for name, value in headers.items()
            }
    if "cookies" in event:
        safe["cookies"] = _REDACTED
    context = event.get("requestContext")
    iam = ((context or {}).get("authorizer") or {}).get("iam") if isinstance(context, dict) else None
    if isinstance(iam, dict) and "accessKey" in iam:
        # The key itself, and any other field that carries it (a server copying it into userId).
        key = iam["accessKey"]
        hidden = {name: _REDACTED if name == "accessKey" or (key and isinstance(value, str) and str(key) in value)
                  else value for name, value in iam.items()}
        safe["requestContext"] = dict(context)
        safe["requestContext"]["authorizer"] = {**context["authorizer"], "iam": hidden}
    body = event.get("body")
    if isinstance(body, str) and len(body) > _LOGGED_BODY_CHARS:
        safe["body"] = body[:_LOGGED_BODY_CHARS] + f"... ({len(body)} characters)"
    return safe


def log_failure(event: dict, reason: str, *, exc_info: BaseException | None = None) -> None:
    """Log a failed request: the reason, the redacted event and the stack trace."""
    logger.error(
        "request failed: %s; event: %s",
        reason,
        json.dumps(redact(event), default=str, ensure_ascii=False),  # (ensure_ascii=None: equivalent)
        exc_info=exc_info,
    )


# Query values: '+' in an unencoded offset ("+01:00") arrives as a space after form decoding.
_SPACE_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")


def restore_offset_plus(text: str) -> str:
    """'2026-02-09T21:50:20 01:00' (a '+' decoded as a space) back to '...+01:00'."""
    return _SPACE_OFFSET.sub(r"+\1", text)


def time_parameter(values: dict[str, str], name: str, now):
    """The query parameter `name` as a UTC datetime (ISO 8601 or relative to `now`), None when
    absent, or HttpError 400 naming it. An offset's '+' sent unencoded arrives as a space: the
    text is tried as sent, then repaired, and the first problem is the one reported."""
    text = values.get(name)
    if text is None:
        return None
    candidates = [text]
    repaired = restore_offset_plus(text.strip())
    if repaired != text.strip():
        candidates.append(repaired)
    problem = ""  # (None: equivalent, the first candidate always sets it)
    for candidate in candidates:
        try:
            return parse_instant(candidate, field=name, now=now)
        except TimeFormatError as exc:  # overflows too ("reaches too far back": tests/test_times.py)
            problem = problem or str(exc)
    raise HttpError(400, [problem])
