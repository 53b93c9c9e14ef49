"""The local Function URL server behind ``logsvc serve``.

Runs the ingest and read Lambda handlers over HTTP on loopback. Each request becomes a Lambda
Function URL event (payload format 2.0) built the way AWS builds it, the handler's response
becomes the HTTP response, so a client cannot tell this server from the deployed URLs:

    /ingest, /ingest/...  ->  ingest handler        /read, /read/...  ->  read handler
    anything else         ->  404 {"errors": ["no such path; use /ingest or /read"]}

With ``auth`` (``"iam"`` or a `logsvc.sigv4.SigV4Verifier`) requests must be SigV4-signed, as
for a URL with ``AuthType: AWS_IAM``; otherwise 403.

The HTTP side is uvicorn with httptools: a plain ``http.server`` stalls on delayed ACKs and
manages a few hundred requests a second. Guards a Function URL has and a bare server lacks:
request bodies over `MAX_BODY_BYTES` get a 413 before they are read (``Content-Length``
checked up front, chunked bodies counted as they arrive), a body must arrive within
`BODY_TIMEOUT_SECONDS` (else 408), and the request line and headers within
`HEAD_TIMEOUT_SECONDS` and `MAX_HEAD_BYTES` (else the connection is closed), so a stalled or
hostile client holds at most its own connection.

Handlers are synchronous and by default run on a bounded thread pool, not in the event loop, so a
handler waiting on DynamoDB or on a SQLite file locked by another process stalls neither the
other connections nor the guards above. The pool has one thread for a SQLite store (SQLite
serialises writers; more threads only queue on its lock, and its busy handler sleeps: p99 went
from 14 ms to 151 ms with four) and `NETWORK_STORE_HANDLER_THREADS` otherwise.
``handler_threads=0`` runs handlers in the loop: about 15 % faster on SQLite, but one slow
call then stalls everything. Figures: benchmarks/SERVE.md.

Nothing here prints: ``run`` reports the URLs through ``on_ready``; uvicorn gets no logging
configuration, no access log, and its loggers are set to ERROR, so bad clients leave no trace. A handler that raises becomes a 502, as on AWS, and is logged with its traceback on
the ``logsvc.serve`` logger.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

Handle = Callable[[dict, Any], Any]
"""A Lambda handler: ``handle(event, store) -> Function URL response``."""

MAX_BODY_BYTES = 1024 * 1024 + 16 * 1024  # the handlers' 1 MiB limit plus slack for framing
BODY_TIMEOUT_SECONDS = 10.0  # the whole body, from the end of the headers
HEAD_TIMEOUT_SECONDS = 10.0  # request line and headers, from the connection or first byte
MAX_HEAD_BYTES = 64 * 1024  # request line and headers together
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
SHUTDOWN_GRACE_SECONDS = 5  # in-flight requests get this long when the server stops
NETWORK_STORE_HANDLER_THREADS = 8  # DynamoDB calls wait on the network: overlap them

NOT_FOUND_MESSAGE = "no such path; use /ingest or /read"
_ROUTES = ("/ingest", "/read")
_TEXT_MEDIA_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded"}
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# Hop-by-hop headers end at the Function URL front end: recorded events never show them.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection"})

_log = logging.getLogger("logsvc.serve")


# -- helpers the CLI uses ------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True when `host` names this machine only (127.0.0.0/8, ::1, localhost); the CLI warns otherwise."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def default_handler_threads(store: Any) -> int:
    """Handler threads for `store`: 1 for SQLite (writers are serialised anyway), else 8."""
    sqlite = sys.modules.get("logsvc.store.sqlite")  # no import: a SQLite store has loaded it already
    if sqlite is not None and isinstance(store, sqlite.SQLiteStore):
        return 1
    return NETWORK_STORE_HANDLER_THREADS


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


# -- the ASGI application ------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class FunctionUrlApp:
    """ASGI app: HTTP request -> Function URL event -> handler -> HTTP response."""

    def __init__(
        self,
        ingest_handle: Handle,
        read_handle: Handle,
        store: Any,
        *,
        auth: Any = None,
        handler_threads: int | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self.store = store
        self.auth = _verifier(auth)
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self._handlers = {"/ingest": ingest_handle, "/read": read_handle}
        if handler_threads is None:
            handler_threads = default_handler_threads(store)
        self.handler_threads = handler_threads
        # Threads start on first use; a bounded pool keeps a flood from spawning threads.
        self._executor = (
            ThreadPoolExecutor(handler_threads, thread_name_prefix="logsvc-handler") if handler_threads > 0 else None
        )

    def close(self) -> None:
        """Wait for running handlers and stop the pool."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def route(self, path: str) -> Handle | None:
        """The handler for a (decoded) request path, or None."""
        path = _remove_dot_segments(path)
        for prefix in _ROUTES:
            if path == prefix or path.startswith(prefix + "/"):
                return self._handlers[prefix]
        return None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return  # lifespan is off and websockets are disabled: nothing else arrives
        raw_headers = scope["headers"]
        declared, chunked = _body_framing(raw_headers)
        body_pending = chunked or bool(declared)

        handle = self.route(scope["path"])
        if handle is None:
            await _send_json(send, 404, {"errors": [NOT_FOUND_MESSAGE]}, close=body_pending)
            return
        if declared is not None and declared > self.max_body_bytes:
            await self._send_too_large(send)
            return
        try:
            body = await self._read_body(receive) if body_pending else b""
        except _BodyTooLarge:
            await self._send_too_large(send)
            return
        except TimeoutError:
            await _send_json(
                send, 408, {"errors": [f"the request body did not arrive within {self.body_timeout:g} s"]}, close=True
            )
            return
        except _ClientGone:
            return

        method = scope["method"]
        raw_path = scope["raw_path"].decode("latin-1")
        raw_query = scope["query_string"].decode("latin-1")
        headers = [(name.decode("latin-1"), value.decode("utf-8", "replace")) for name, value in raw_headers]
        authorizer = None
        account_id = "anonymous"
        if self.auth is not None:
            from logsvc.sigv4 import SignatureError

            try:
                caller = self.auth.verify(method, raw_path, raw_query, headers, body)
            except SignatureError as exc:
                await _send_json(send, 403, {"message": "Forbidden", "errors": [str(exc)]})
                return
            authorizer = caller.authorizer()
            account_id = caller.account_id

        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("127.0.0.1", 0)
        forwarded = [(name, value) for name, value in headers if name not in _HOP_BY_HOP]
        forwarded.extend(_forwarding_headers(headers, client[0], server[1]))
        event = build_event(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=forwarded,
            body=body,
            source_ip=client[0],
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
            authorizer=authorizer,
            account_id=account_id,
        )
        try:
            result = await self._invoke(handle, event)
        except Exception:  # a crashing function is a 502 on AWS too; logged with its traceback, not hidden
            _log.exception("the handler for %s %s raised", method, raw_path)
            await _send_json(send, 502, {"message": "Internal Server Error",
                                         "errors": ["the handler raised an exception; see the server's log"]})
            return
        try:
            status, response_headers, response_body = http_response(result)
        except BadHandlerResponse as exc:
            _log.error("the handler for %s %s returned an invalid response: %s", method, raw_path, exc)
            await _send_json(send, 502, {"message": "Internal Server Error",
                                         "errors": [f"the handler returned an invalid response: {exc}"]})
            return
        response_headers.append((b"content-length", str(len(response_body)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": response_body})

    async def _invoke(self, handle: Handle, event: dict) -> Any:
        if self._executor is None:
            return handle(event, self.store)
        return await asyncio.get_running_loop().run_in_executor(self._executor, handle, event, self.store)

    async def _read_body(self, receive: Callable) -> bytes:
        """The whole body, counted as it arrives; _BodyTooLarge past the limit, TimeoutError if slow."""
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.body_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise _BodyTooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)

    async def _send_too_large(self, send: Callable) -> None:
        # Close the connection: the rest of the body is never read.
        await _send_json(
            send, 413, {"errors": [f"request body is larger than {self.max_body_bytes} bytes"]}, close=True
        )


def build_app(
    ingest_handle: Handle,
    read_handle: Handle,
    store: Any,
    *,
    auth: Any = None,
    handler_threads: int | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
) -> FunctionUrlApp:
    """The ASGI app serving /ingest and /read with the given handlers and store.

    `auth`: None (``AuthType: NONE``), ``"iam"`` (SigV4 with the credentials botocore finds) or
    a `logsvc.sigv4.SigV4Verifier`. `handler_threads`: None picks `default_handler_threads`,
    0 runs handlers in the event loop. Call ``close()`` on the app when done with it.
    """
    return FunctionUrlApp(
        ingest_handle,
        read_handle,
        store,
        auth=auth,
        handler_threads=handler_threads,
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout,
    )


def _verifier(auth: Any) -> Any:
    if auth is None or auth == "none":
        return None
    if auth == "iam":
        from logsvc.sigv4 import SigV4Verifier, default_credentials

        return SigV4Verifier(default_credentials())
    if not callable(getattr(auth, "verify", None)):
        raise ValueError(f"auth must be None, 'none', 'iam' or a SigV4Verifier, not {auth!r}")
    return auth


def _body_framing(raw_headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """(declared Content-Length or None, chunked?) of a request."""
    declared = None
    chunked = False
    for name, value in raw_headers:
        if name == b"content-length":
            # The HTTP parser has already rejected a malformed Content-Length.
            declared = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return declared, chunked


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


def _remove_dot_segments(path: str) -> str:
    """The path with ``.``/``..`` resolved and empty segments dropped, as SigV4 canonicalises it."""
    if "." not in path and "//" not in path:
        return path
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    return "/" + "/".join(out) + ("/" if path.endswith("/") and out else "")


async def _send_json(send: Callable, status: int, payload: dict, *, close: bool = False) -> None:
    body = json.dumps(payload).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- the HTTP server -----------------------------------------------------------------------------


def _guarded_protocol(head_timeout: float, max_head_bytes: int) -> type:
    """uvicorn's httptools protocol with a deadline and a size limit on request heads.

    uvicorn times out idle keep-alive connections only; a client that connects and sends half a
    request line would hold its connection (and file descriptor) forever. On shutdown, requests
    whose body is still arriving are dropped instead of waited for.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeadTooLarge(Exception):
        pass

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_bytes = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_head_clock()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_clock()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            if self._head_timer is None:
                self._start_head_clock()

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._stop_head_clock()
            super().on_headers_complete()

        def shutdown(self) -> None:
            cycle = self.cycle
            if cycle is not None and not cycle.response_started and cycle.more_body:
                # Stopping while the body is still arriving: do not wait out the body timeout.
                self.transport.close()
                return
            super().shutdown()

        def _count_head(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > max_head_bytes:
                # Raised inside a parser callback: uvicorn answers 400 and closes the connection.
                raise HeadTooLarge

        def _start_head_clock(self) -> None:
            self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _stop_head_clock(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedHttpToolsProtocol


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket; OSError (address in use, unknown host) goes to the caller."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(sock: socket.socket) -> str:
    address = sock.getsockname()[0]
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.is_unspecified:  # bound to every interface: this machine reaches it on loopback
        return "[::1]" if ip.version == 6 else "127.0.0.1"
    return f"[{address}]" if ip.version == 6 else address


def _default_handlers() -> tuple[Handle, Handle]:
    from logsvc.handler import ingest, read

    return ingest.handle, read.handle


class LocalServer:
    """The server on a background thread: ``start()``, the URLs, ``stop()``; also a context manager.

    Handlers default to the real ones (`logsvc.handler.ingest` and `.read`). ``port=0`` picks a
    free port; `port` and the URLs report the real one once started.
    """

    def __init__(
        self,
        store: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: Any = None,
        ingest_handle: Handle | None = None,
        read_handle: Handle | None = None,
        handler_threads: int | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
        head_timeout: float = HEAD_TIMEOUT_SECONDS,
        keep_alive_timeout: int = KEEP_ALIVE_SECONDS,
    ) -> None:
        if ingest_handle is None or read_handle is None:
            default_ingest, default_read = _default_handlers()
            ingest_handle = ingest_handle or default_ingest
            read_handle = read_handle or default_read
        self.host = host
        self.port = port
        self.app = build_app(
            ingest_handle,
            read_handle,
            store,
            auth=auth,
            handler_threads=handler_threads,
            max_body_bytes=max_body_bytes,
            body_timeout=body_timeout,
        )
        self._head_timeout = head_timeout
        self._keep_alive_timeout = keep_alive_timeout
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._url_host = ""

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8321``."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def ingest_url(self) -> str:
        return f"{self.url}/ingest"

    @property
    def read_url(self) -> str:
        return f"{self.url}/read"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> LocalServer:
        """Bind (OSError if the address is taken) and serve on a daemon thread; returns self."""
        import uvicorn

        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._url_host = _url_host(sock)
        config = uvicorn.Config(
            self.app,
            http=_guarded_protocol(self._head_timeout, MAX_HEAD_BYTES),
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,  # leave the process's logging alone ...
            log_level="error",  # ... and drop uvicorn's notices about bad clients
            access_log=False,
            server_header=False,
            date_header=False,
            proxy_headers=False,
            timeout_keep_alive=self._keep_alive_timeout,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
        ready = threading.Event()

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                ready.set()

        self._server = Server(config)
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), name="logsvc-serve", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or not self._server.started:
            self.stop()
            raise RuntimeError(f"the local server did not start: {self._failure!r}") from self._failure
        return self

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        try:
            # Off the main thread uvicorn installs no signal handlers; `run` owns the signals.
            asyncio.run(self._server.serve(sockets=[sock]))
        except BaseException as exc:  # kept for start()/stop() to re-raise in the caller's thread
            self._failure = exc
        finally:
            sock.close()
            ready.set()

    def stop(self, timeout: float = SHUTDOWN_GRACE_SECONDS + 5.0) -> None:
        """Stop accepting, let in-flight requests finish (up to the grace period), join the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the local server did not stop in time")
        self.app.close()

    def __enter__(self) -> LocalServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(store: Any, **options: Any) -> LocalServer:
    """A started `LocalServer` (see its parameters); call ``.stop()`` when done."""
    return LocalServer(store, **options).start()


def run(
    store: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    auth: Any = None,
    on_ready: Callable[[str, str], None] | None = None,
    **options: Any,
) -> int | None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM, then shut down cleanly.

    `on_ready(ingest_url, read_url)` is called once the server accepts connections. Returns the
    signal number that stopped the server (None if it stopped otherwise). `options` are those
    of `LocalServer`. Signal handlers are installed only when called on the main thread.
    """
    stop_requested = threading.Event()
    received: list[int] = []

    def request_stop(signum: int, frame: object) -> None:
        received.append(signum)
        stop_requested.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = LocalServer(store, host=host, port=port, auth=auth, **options).start()
        try:
            if on_ready is not None:
                on_ready(server.ingest_url, server.read_url)
            while not stop_requested.wait(0.5):
                if not server.running:
                    raise RuntimeError("the local server stopped unexpectedly") from server._failure
        finally:
            server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0] if received else None
