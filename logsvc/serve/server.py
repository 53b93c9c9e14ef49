"""The server's life cycle: bind, serve on a thread, stop; `run` until a signal.

The HTTP side is uvicorn with httptools: a plain ``http.server`` stalls on delayed ACKs and
manages a few hundred requests a second. uvicorn is imported only when a server starts.

Nothing here prints: ``run`` reports the URLs through ``on_ready``; uvicorn gets no logging
configuration, no access log, and its loggers are set to ERROR, so bad clients leave no trace.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from logsvc.serve.app import BODY_TIMEOUT_SECONDS, MAX_BODY_BYTES, MAX_REQUESTS_IN_FLIGHT, FunctionUrlApp, Handle
from logsvc.serve.hosts import HostPolicy
from logsvc.serve.protocol import HEAD_TIMEOUT_SECONDS, MAX_CONNECTIONS, MAX_HEAD_BYTES, _guarded_protocol

KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
SHUTDOWN_GRACE_SECONDS = 5  # in-flight requests get this long when the server stops


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
        max_in_flight: int = MAX_REQUESTS_IN_FLIGHT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if ingest_handle is None or read_handle is None:
            default_ingest, default_read = _default_handlers()
            ingest_handle = ingest_handle or default_ingest
            read_handle = read_handle or default_read
        self.host = host
        self.port = port
        self.app = FunctionUrlApp(
            ingest_handle,
            read_handle,
            store,
            auth=auth,
            handler_threads=handler_threads,
            max_body_bytes=max_body_bytes,
            body_timeout=body_timeout,
            max_in_flight=max_in_flight,
        )
        self._max_connections = max_connections
        self._head_timeout = head_timeout
        self._keep_alive_timeout = keep_alive_timeout
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._url_host = ""
        self._stop_checkpoints: Callable[[], None] | None = None

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
        self.app.hosts = HostPolicy(self.host, sock.getsockname()[0], self.port)
        config = uvicorn.Config(
            self.app,
            http=_guarded_protocol(self._head_timeout, MAX_HEAD_BYTES, self._max_connections),
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

        # A SQLite store checkpoints off the handlers' thread (1.4x the batch throughput); started
        # before any handler runs, so that every connection a handler opens takes its settings.
        background = getattr(self.app.store, "checkpoint_in_background", None)
        self._stop_checkpoints = background() if background is not None else None
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
        if self._stop_checkpoints is not None:
            self._stop_checkpoints()
            self._stop_checkpoints = None

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
