"""Who may talk to the local server: the ``Host`` it answers to and the ``Origin`` it accepts.

A server on loopback without authentication is still reachable from a web browser on the same
machine. Two attacks follow, and two checks stop them:

- DNS rebinding: a page at ``evil.example`` re-points its name at 127.0.0.1 and reads or writes
  through the victim's browser. The browser sends ``Host: evil.example:8321``, so a request is
  refused unless its Host names this server: the address it is bound to, the name given to
  ``--host``, ``localhost`` (and ``*.localhost``) or a loopback address when bound to loopback,
  any IP address when bound to all interfaces (an IP literal cannot be rebound), and the port
  it listens on. A request without a Host header (HTTP/1.0, never a browser) passes.
- Cross-origin writes: any page can POST a "simple" request (``text/plain``) to any URL. The
  browser says where the page came from in ``Origin``; a request with an Origin other than this
  server's own (``null`` included) is refused.

Both answer 403 with a JSON error. `HostPolicy.allows` is also what the SigV4 check holds the
signed ``host`` to, so a request signed for another server is not accepted here.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

DEFAULT_HTTP_PORT = 80


class HostPolicy:
    """The Host and Origin values a server bound to `bound_address`:`port` answers to."""

    def __init__(self, bind_host: str, bound_address: str, port: int) -> None:
        self.port = port
        address = _ip(bound_address)
        self._any_ip = address is not None and address.is_unspecified
        self._loopback = address is not None and (address.is_loopback or address.is_unspecified)
        self._addresses = {address} if address is not None and not address.is_unspecified else set()
        self._names = {name for name in (_normal_name(bind_host), _normal_name(bound_address)) if name}
        if self._any_ip:
            self._names.add(_normal_name(socket.gethostname()))  # no DNS: the name this machine calls itself

    def allows(self, host: str) -> bool:
        """Whether a ``Host`` value (``name[:port]``, IPv6 in brackets) names this server."""
        parsed = _split_host(host)
        if parsed is None:
            return False
        name, port = parsed
        return port == self.port and self._name_ok(name)

    def allows_origin(self, origin: str) -> bool:
        """Whether an ``Origin`` value is this server's own (``http://`` and an allowed host)."""
        try:
            parts = urlsplit(origin.strip())
            port = parts.port
        except ValueError:
            return False
        if parts.scheme.lower() != "http" or not parts.hostname or parts.path not in ("", "/"):
            return False
        return (port or DEFAULT_HTTP_PORT) == self.port and self._name_ok(_normal_name(parts.hostname))

    def examples(self) -> str:
        """What a client may put in Host, for the error message."""
        shown = sorted(name for name in self._names if name)
        if self._loopback and "localhost" not in shown:
            shown.append("localhost")
        return ", ".join(f"{_bracketed(name)}:{self.port}" for name in shown)

    def _name_ok(self, name: str) -> bool:
        if name in self._names:
            return True
        address = _ip(name)
        if address is None:
            return self._loopback and (name == "localhost" or name.endswith(".localhost"))
        return self._any_ip or address in self._addresses or (self._loopback and address.is_loopback)


def _split_host(value: str) -> tuple[str, int] | None:
    """(lower-case name, port) of a Host value; the port defaults to 80. None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    else:
        if value.count(":") > 1:  # an IPv6 literal must be in brackets
            return None
        name, _, port_text = value.partition(":")
    if port_text:
        if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
            return None
        port = int(port_text)
    else:
        port = DEFAULT_HTTP_PORT
    name = _normal_name(name)
    return (name, port) if name else None


def _normal_name(name: str) -> str:
    name = name.strip().strip("[]").lower().rstrip(".")
    address = _ip(name)
    if address is not None:
        return str(address)
    return name


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name else name
