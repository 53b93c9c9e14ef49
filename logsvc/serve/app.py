"""The ASGI app: HTTP request -> Function URL event -> handler -> HTTP response.

    /ingest, /ingest/...  ->  ingest handler        /read, /read/...  ->  read handler
    anything else         ->  404 {"errors": ["no such path; use /ingest or /read"]}

With ``auth`` (``"iam"`` or a `logsvc.sigv4.SigV4Verifier`) requests must be SigV4-signed, as
for a URL with ``AuthType: AWS_IAM``, for this server's host; otherwise 403. With ``hosts`` (a
`logsvc.serve.hosts.HostPolicy`, which `LocalServer` sets once bound) a request whose ``Host`` is
not this server, or whose ``Origin`` is another site's, is a 403 before anything else. Bodies over `MAX_BODY_BYTES` get a 413
before they are read (``Content-Length`` checked up front, chunked bodies counted as they
arrive), and a body must arrive within `BODY_TIMEOUT_SECONDS` (else 408). At most
`MAX_REQUESTS_IN_FLIGHT` requests are between their head and their response at once; one more
gets a 503 with ``Retry-After`` before its body is read. Each may hold a body of up to 1 MiB
and its event and parsed entries (a few MiB in all), so this cap is what bounds the server's
memory under a flood of large POSTs (figures: README, "Running it locally").

Handlers are synchronous and by default run on a bounded thread pool, not in the event loop, so a
handler waiting on DynamoDB or on a SQLite file locked by another process stalls neither the
other connections nor the guards above. The pool has one thread for a SQLite store (SQLite
serialises writers; more threads only queue on its lock, and its busy handler sleeps: p99 went
from 14 ms to 151 ms with four) and `NETWORK_STORE_HANDLER_THREADS` otherwise.
``handler_threads=0`` runs handlers in the loop: about 15 % faster on SQLite, but one slow
call then stalls everything. Figures: benchmarks/SERVE.md.

A handler that raises becomes a 502, as on AWS, and is logged with its traceback on the
``logsvc.serve`` logger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from logsvc.serve.events import _HOP_BY_HOP, BadHandlerResponse, _forwarding_headers, build_event, http_response
from logsvc.serve.protocol import _body_framing

Handle = Callable[[dict, Any], Any]
"""A Lambda handler: ``handle(event, store) -> Function URL response``."""

MAX_BODY_BYTES = 1024 * 1024 + 16 * 1024  # the handlers' 1 MiB limit plus slack for framing
BODY_TIMEOUT_SECONDS = 10.0  # the whole body, from the end of the headers
NETWORK_STORE_HANDLER_THREADS = 8  # DynamoDB calls wait on the network: overlap them
MAX_REQUESTS_IN_FLIGHT = 32  # reading a body, waiting for or in a handler: each holds up to ~4 MiB

NOT_FOUND_MESSAGE = "no such path; use /ingest or /read"
_ROUTES = ("/ingest", "/read")

_log = logging.getLogger("logsvc.serve")


def default_handler_threads(store: Any) -> int:
    """Handler threads for `store`: 1 for SQLite (writers are serialised anyway), else 8."""
    sqlite = sys.modules.get("logsvc.store.sqlite")  # no import: a SQLite store has loaded it already
    if sqlite is not None and isinstance(store, sqlite.SQLiteStore):
        return 1
    return NETWORK_STORE_HANDLER_THREADS


# -- the ASGI application ------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class FunctionUrlApp:
    """ASGI app: HTTP request -> Function URL event -> handler -> HTTP response, on /ingest and /read.

    `auth`: None (``AuthType: NONE``), ``"iam"`` (SigV4 with the credentials botocore finds) or
    a `logsvc.sigv4.SigV4Verifier`. `handler_threads`: None picks `default_handler_threads`,
    0 runs handlers in the event loop. Call ``close()`` on the app when done with it.
    """

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
        max_in_flight: int = MAX_REQUESTS_IN_FLIGHT,
    ) -> None:
        self.store = store
        self.max_in_flight = max_in_flight
        self._in_flight = 0  # touched only on the event loop's thread
        self.auth = _verifier(auth)
        self.hosts: Any = None  # a HostPolicy, set by LocalServer once it knows its address
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
        if self._in_flight >= self.max_in_flight:
            declared, chunked = _body_framing(scope["headers"])
            await _send_json(send, 503, {"errors": [f"the server is busy ({self.max_in_flight} requests in progress);"
                                                    " retry shortly"]},
                             close=chunked or bool(declared), headers=[(b"retry-after", b"1")])
            return
        self._in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self._in_flight -= 1

    async def _serve(self, scope: dict, receive: Callable, send: Callable) -> None:
        raw_headers = scope["headers"]
        declared, chunked = _body_framing(raw_headers)
        body_pending = chunked or bool(declared)

        refused = self._foreign(raw_headers)
        if refused is not None:
            await _send_json(send, 403, {"message": "Forbidden", "errors": [refused]}, close=body_pending)
            return
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
                caller = self.auth.verify(method, raw_path, raw_query, headers, body,
                                          host_ok=self.hosts.allows if self.hosts is not None else None)
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

    def _foreign(self, raw_headers: list[tuple[bytes, bytes]]) -> str | None:
        """Why a request from another site (DNS rebinding, a cross-origin page) is refused, or None."""
        if self.hosts is None:
            return None
        for name, value in raw_headers:
            if name == b"host":
                host = value.decode("latin-1")
                if not self.hosts.allows(host):
                    return (f"the Host header {host[:100]!r} does not name this server (use one of "
                            f"{self.hosts.examples()}; serve --host NAME answers to NAME)")
            elif name == b"origin":
                origin = value.decode("latin-1")
                if not self.hosts.allows_origin(origin):
                    return f"cross-origin request from {origin[:100]!r} refused: only this server's own pages may call it"
        return None

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


def _verifier(auth: Any) -> Any:
    if auth is None or auth == "none":
        return None
    if auth == "iam":
        from logsvc.sigv4 import SigV4Verifier, default_credentials

        return SigV4Verifier(default_credentials())
    if not callable(getattr(auth, "verify", None)):
        raise ValueError(f"auth must be None, 'none', 'iam' or a SigV4Verifier, not {auth!r}")
    return auth


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


async def _send_json(send: Callable, status: int, payload: dict, *, close: bool = False,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii")),
               *(headers or [])]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

