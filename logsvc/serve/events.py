"""The Lambda Function URL event model: an HTTP request in, a payload-2.0 event out; a handler's
result in, an HTTP response out. Nothing here does I/O, so it reads on its own next to AWS's
documentation it follows: "Invoking Lambda function URLs", section "Request and response
payloads" (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads),
whose request payload is API Gateway's HTTP API payload format version 2.0.

Request -> event (`build_event`):

- ``version`` "2.0"; ``routeKey``, ``requestContext.routeKey`` and ``.stage`` are ``$default``
  (a Function URL has no routes or stages).
- ``rawPath`` and ``rawQueryString`` as received, not decoded.
- ``headers``: lower-case names; a repeated header is one entry, values joined with commas.
  The front end's own headers are added (`_forwarding_headers`): ``x-forwarded-for`` appends
  the client to any chain sent, ``x-forwarded-proto``/``-port`` describe this hop and replace
  what came in, ``x-amzn-trace-id`` is made up when absent. Hop-by-hop headers (`_HOP_BY_HOP`)
  end at the front end and are dropped by the caller.
- ``cookies``: the Cookie header split on ``;`` (and the commas of joined repeats); left out
  without a Cookie header.
- ``queryStringParameters`` (`query_parameters`): decoded, ``+`` is a space, repeated keys
  joined with commas; left out for an empty query.
- ``body``: text when the content type is textual (`is_text_content_type`: ``text/*``, JSON,
  XML, JavaScript, form-encoded, ``+json``/``+xml``) and the bytes are UTF-8; otherwise base64
  with ``isBase64Encoded`` true. Left out for an empty body (``isBase64Encoded`` false).
- ``requestContext``: ``domainName`` is the Host header without its port, ``domainPrefix`` and
  ``apiId`` its first label; ``accountId`` "anonymous" unless the request was signed, then the
  caller's account with the ``authorizer.iam`` block; ``http`` holds method, path, protocol,
  source IP and user agent; a fresh UUID ``requestId``; ``time`` as ``dd/Mon/yyyy:HH:MM:SS
  +0000`` and ``timeEpoch`` in milliseconds.

Handler result -> response (`http_response`): a dict with ``statusCode`` is a response
(``headers``, ``cookies`` as Set-Cookie headers, ``body``, base64-decoded when
``isBase64Encoded``); anything else is the JSON body of a 200. The content type defaults to
application/json, framing headers are the server's own, and a result that cannot be sent is a
`BadHandlerResponse` (a 502, as on AWS).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

_TEXT_MEDIA_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded"}
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# Hop-by-hop headers end at the Function URL front end: recorded events never show them.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection"})


def is_text_content_type(content_type: str | None) -> bool:
    """Whether a Function URL passes a body of this type as text (else it is base64-encoded)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media in _TEXT_MEDIA_TYPES
        or media.endswith("+json")
        or media.endswith("+xml")
    )


# -- request -> event ----------------------------------------------------------------------------


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    protocol: str = "HTTP/1.1",
    authorizer: dict | None = None,
    account_id: str = "anonymous",
    now: float | None = None,
) -> dict:
    """The payload-2.0 event a Function URL hands its function for this request.

    `headers` are (lower-case name, value) pairs as received; repeated names are joined with
    commas. `authorizer` is the ``{"iam": {...}}`` block of a signed request (`account_id` is
    then the caller's account). Empty query and body are left out, as AWS does.
    """
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]},{value}" if name in joined else value

    epoch = time.time() if now is None else now
    moment = time.gmtime(epoch)
    domain = _domain_name(joined.get("host", "localhost"))
    prefix = domain.split(".", 1)[0]
    context: dict[str, Any] = {"accountId": account_id, "apiId": prefix}
    if authorizer is not None:
        context["authorizer"] = authorizer
    context.update(
        {
            "domainName": domain,
            "domainPrefix": prefix,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": (
                f"{moment.tm_mday:02d}/{_MONTHS[moment.tm_mon - 1]}/{moment.tm_year}:"
                f"{moment.tm_hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d} +0000"
            ),
            "timeEpoch": int(epoch * 1000),
        }
    )

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if "cookie" in joined:
        cookies = [part.strip() for part in joined["cookie"].replace(",", ";").split(";")]
        event["cookies"] = [cookie for cookie in cookies if cookie]
    event["headers"] = joined
    parameters = query_parameters(raw_query)
    if parameters:
        event["queryStringParameters"] = parameters
    event["requestContext"] = context
    if body:
        text = _as_text(body) if is_text_content_type(joined.get("content-type")) else None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
            event["isBase64Encoded"] = False
    else:
        event["isBase64Encoded"] = False
    return event


def _domain_name(host: str) -> str:
    """The Host header without its port (Function URL domain names have none)."""
    if host.startswith("["):  # an IPv6 literal
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0]


def query_parameters(raw_query: str) -> dict[str, str]:
    """``queryStringParameters``: decoded (``+`` is a space), repeated keys joined with commas."""
    parameters: dict[str, str] = {}
    for pair in raw_query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key = unquote_plus(key, errors="replace")
        value = unquote_plus(value, errors="replace")
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    return parameters


def _as_text(body: bytes) -> str | None:
    # A "text" body that is not UTF-8 travels base64-encoded instead, so the handler sees the
    # exact bytes (and rejects them) rather than replacement characters it might store.
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _forwarding_headers(headers: list[tuple[str, str]], client_ip: str, port: int) -> list[tuple[str, str]]:
    """The headers a Function URL adds in front of the function (repeats join with what came in)."""
    now = int(time.time())
    added = [
        ("x-forwarded-for", client_ip),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", str(port)),
    ]
    if not any(name == "x-amzn-trace-id" for name, _ in headers):
        added.append(("x-amzn-trace-id", f"Root=1-{now:08x}-{uuid.uuid4().hex[:24]}"))
    present = {name for name, _ in headers}
    # x-forwarded-proto/port describe this hop only: replace, do not append.
    return [(name, value) for name, value in added if name == "x-forwarded-for" or name not in present]


# -- response -> HTTP ----------------------------------------------------------------------------


class BadHandlerResponse(ValueError):
    """The handler returned something a Function URL cannot turn into a response (a 502)."""


def http_response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) for a handler's return value, as a Function URL interprets it.

    A dict with ``statusCode`` is a response: ``headers``, ``cookies`` (each a Set-Cookie),
    ``body``, base64-decoded when ``isBase64Encoded``. Anything else is the JSON body of a 200.
    The content type defaults to application/json. Content-Length is always the server's.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        try:
            body = json.dumps(result).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise BadHandlerResponse(f"the result is not JSON-serialisable: {exc}") from None
        return 200, [(b"content-type", b"application/json")], body

    status = result["statusCode"]
    if type(status) is not int or not 100 <= status <= 599:
        raise BadHandlerResponse(f"statusCode {status!r} is not an HTTP status")
    headers = result.get("headers") or {}
    if not isinstance(headers, dict):
        raise BadHandlerResponse("headers must be an object")
    out: list[tuple[bytes, bytes]] = []
    has_content_type = False
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise BadHandlerResponse(f"invalid header name {name!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or _BAD_HEADER_VALUE.search(value):
            raise BadHandlerResponse(f"invalid value for header {name!r}")
        lower = name.lower()
        if lower in _FRAMING_HEADERS:
            continue  # framing belongs to the server, which always sends Content-Length
        has_content_type = has_content_type or lower == "content-type"
        out.append((lower.encode("latin-1"), value.encode("utf-8")))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise BadHandlerResponse("cookies must be a list of strings")
    for cookie in cookies:
        if not isinstance(cookie, str) or _BAD_HEADER_VALUE.search(cookie):
            raise BadHandlerResponse(f"invalid cookie {cookie!r}")
        out.append((b"set-cookie", cookie.encode("utf-8")))
    if not has_content_type:
        out.append((b"content-type", b"application/json"))

    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise BadHandlerResponse("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise BadHandlerResponse("isBase64Encoded is set but body is not base64") from None
    else:
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            raise BadHandlerResponse("body is not valid Unicode text") from None
    return status, out, data
