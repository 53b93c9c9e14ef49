"""Guards on the HTTP connection that a Function URL has and a bare server lacks.

The request line and headers must arrive within `HEAD_TIMEOUT_SECONDS` and `MAX_HEAD_BYTES`
(else the connection is closed), so a stalled or hostile client holds at most its own
connection. The size is enforced as the bytes arrive, not once a header is complete: the parser
gathers a header line in memory, and a single endless line would otherwise grow without bound.
At most `MAX_CONNECTIONS` connections are open at once; one more is answered 503 and closed.
So the heads in memory stay under MAX_CONNECTIONS x (MAX_HEAD_BYTES + one 256 KiB read).
The body limits (413, 408) and the cap on requests in flight are the app's: see `logsvc.serve.app`.
"""

from __future__ import annotations

import asyncio
from typing import Any

HEAD_TIMEOUT_SECONDS = 10.0  # request line and headers, from the connection or first byte
MAX_HEAD_BYTES = 64 * 1024  # request line and headers together
MAX_CONNECTIONS = 256  # open at once, idle keep-alive ones included

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
)
_TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
)


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


def _guarded_protocol(head_timeout: float, max_head_bytes: int, max_connections: int = MAX_CONNECTIONS) -> type:
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
            self._head_open = False  # a request head has begun and is not complete
            self._head_raw_bytes = 0  # bytes of reads that arrived wholly inside an open head
            self._head_too_large = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                body = b'{"errors": ["too many connections to this server; retry shortly"]}'
                transport.write(_TOO_MANY_CONNECTIONS % (len(body), body))
                transport.close()
                return
            self._start_head_clock()

        def data_received(self, data: bytes) -> None:
            # Count the reads that arrive while a head is open (the one it began in is left
            # out, so an honest head is never over-counted): the parser keeps an unfinished
            # header line in memory, and on_header only sees it once it is complete.
            was_open = self._head_open
            super().data_received(data)
            if was_open and self._head_open and not self.transport.is_closing():
                self._head_raw_bytes += len(data)
                if self._head_raw_bytes > max_head_bytes:
                    self._refuse_head()

        def _refuse_head(self) -> None:
            self._stop_head_clock()
            body = b'{"errors": ["the request line and headers are larger than %d bytes"]}' % max_head_bytes
            self.transport.write(_HEAD_TOO_LARGE % (len(body), body))
            self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_clock()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            self._head_open = True
            self._head_raw_bytes = 0
            if self._head_timer is None:
                self._start_head_clock()

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._head_open = False
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
                # Raised inside a parser callback: uvicorn calls send_400_response, which answers
                # 431 instead (below), and closes the connection.
                self._head_too_large = True
                raise HeadTooLarge

        def send_400_response(self, msg: str) -> None:
            if self._head_too_large:
                self._refuse_head()
            else:
                super().send_400_response(msg)

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


