"""The local Function URL server behind ``logsvc serve``.

Runs the ingest and read Lambda handlers over HTTP on loopback. Each request becomes a Lambda
Function URL event (payload format 2.0) built the way AWS builds it, the handler's response
becomes the HTTP response, so a client cannot tell this server from the deployed URLs:

    /ingest, /ingest/...  ->  ingest handler        /read, /read/...  ->  read handler
    anything else         ->  404 {"errors": ["no such path; use /ingest or /read"]}

Where each concern lives:

- `logsvc.serve.events`: request -> payload-2.0 event, handler result -> HTTP response (the part
  to compare with AWS's documentation; no I/O).
- `logsvc.serve.app`: the ASGI app: routing, SigV4 auth, body limits (413/408), the cap on
  requests in flight (503), handler threads.
- `logsvc.serve.protocol`: guards on the connection: request-head deadline and size (as bytes
  arrive), the cap on open connections, body framing.
- `logsvc.serve.hosts`: the Host and Origin the server answers to (DNS rebinding, other sites).
- `logsvc.serve.server`: the life cycle: bind, serve on a thread (uvicorn), stop, `run` until a signal.

The names below are this package's interface; import them from ``logsvc.serve``.
"""

from __future__ import annotations

from logsvc.serve.app import (
    BODY_TIMEOUT_SECONDS,
    MAX_BODY_BYTES,
    MAX_REQUESTS_IN_FLIGHT,
    NETWORK_STORE_HANDLER_THREADS,
    NOT_FOUND_MESSAGE,
    FunctionUrlApp,
    Handle,
    default_handler_threads,
)
from logsvc.serve.events import BadHandlerResponse, build_event, http_response, is_text_content_type, query_parameters
from logsvc.serve.protocol import HEAD_TIMEOUT_SECONDS, MAX_CONNECTIONS, MAX_HEAD_BYTES
from logsvc.serve.server import (
    KEEP_ALIVE_SECONDS,
    SHUTDOWN_GRACE_SECONDS,
    LocalServer,
    is_loopback,
    run,
    start_in_thread,
)

__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "HEAD_TIMEOUT_SECONDS",
    "KEEP_ALIVE_SECONDS",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "MAX_HEAD_BYTES",
    "MAX_REQUESTS_IN_FLIGHT",
    "NETWORK_STORE_HANDLER_THREADS",
    "NOT_FOUND_MESSAGE",
    "SHUTDOWN_GRACE_SECONDS",
    "BadHandlerResponse",
    "FunctionUrlApp",
    "Handle",
    "LocalServer",
    "build_event",
    "default_handler_threads",
    "http_response",
    "is_loopback",
    "is_text_content_type",
    "query_parameters",
    "run",
    "start_in_thread",
]
