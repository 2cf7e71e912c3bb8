"""Who may change what: the Host allow-list, the Origin check and the pairing token.

- Every request's Host header must name this Pi (its host name, `<name>.local`, any of its
  addresses, localhost, or a name added in `[web] allowed_hosts`): a DNS-rebinding page
  on another site cannot reach the API under its own name (400 otherwise). The addresses
  follow the Pi's: a Wi-Fi Pi gets its address from DHCP after the daemon has started.
- Every client must be on one of this Pi's networks (loopback, link-local, a private range,
  or the prefix of an interface: a home network's IPv6 addresses are global ones), 403
  otherwise; the unit's IPAddressAllow= can only list fixed ranges.
- A state-changing request that carries an Origin header (every browser sends one on a
  POST) must come from this server's own origin exactly, as the browser sees it:
  `http://` and the request's Host (port 80 implied). Another port on the same Pi, https
  or `null` is another origin: 403.
- A state-changing request needs a pairing token (`Authorization: Bearer <token>` or
  `X-Pairing-Token`): none is 401, a wrong or revoked one 403; nothing changes either way.
  Wrong tokens are throttled and logged per client address (throttle.py): 429 for a while.

`ChangeGuard.check` does the last two from the request's headers alone, so `limits.py`
runs it before a byte of the body is read; `require_pairing` is the same check as a
FastAPI dependency, for a reading endpoint that needs the token (`/api/pair/check`).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

import ifaddr
from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

from pi_service.config import Config
from pi_service.pairing import PairingError, PairingStore
from pi_service.web.throttle import TokenThrottle, client_address

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
REFRESH_S = 1.0  # an unknown Host re-reads the interfaces at most this often
# As the unit's IPAddressAllow=: private IPv4 ranges and IPv6 unique-local addresses.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


class HostAllowList:
    """The names and addresses this Pi answers to, and the networks its clients may be on.

    Read from the interfaces at start and again when a request names a host or comes from
    a peer not known yet (at most once every REFRESH_S), so an address that arrives later
    (DHCP, a second interface, IPv6 router advertisements) is accepted within a second,
    and one that has gone is dropped at the next refresh. `fixed` (tests) is the whole list.
    """

    def __init__(self, config: Config, fixed: list[str] | None = None,
                 adapters: Callable[[], list] = ifaddr.get_adapters, clock: Callable[[], float] = time.monotonic,
                 routes: Callable[[], list] | None = None):
        self._config, self._fixed, self._adapters, self._clock = config, fixed, adapters, clock
        self._routes = routes or _on_link_ipv6_routes
        if fixed is None:
            # The names, once: getfqdn may ask DNS, which must not hold up a request later.
            name = socket.gethostname()
            named = set(LOCAL_NAMES) | set(config.web.allowed_hosts) | {name, f"{name}.local", socket.getfqdn()}
            if config.web.host not in ("0.0.0.0", "::"):
                named.add(config.web.host)
        else:
            named = set(fixed)
        named = {n.lower() for n in named}
        self._wildcards = tuple(n[1:] for n in named if n.startswith("*"))  # "*" and "*.example.org"
        self._named = {n for n in named if not n.startswith("*")}
        self._names: set[str] = set(self._named)
        self._networks: list = []
        self._read_at: float | None = None
        self._refresh()

    def _refresh(self) -> None:
        """Re-read the interfaces' addresses (ifaddr: a netlink query, no DNS)."""
        self._read_at = self._clock()
        if self._fixed is not None:
            return
        names = set(self._named)
        networks = []
        for adapter in self._adapters():
            for ip in adapter.ips:
                address = ip.ip if ip.is_IPv4 else ip.ip[0].split("%")[0]
                names.add(address if ip.is_IPv4 else f"[{address}]")
                try:
                    networks.append(ipaddress.ip_interface(f"{address}/{ip.network_prefix}").network)
                except ValueError:
                    pass  # an address ifaddr could not pair with a prefix: its name still counts
        self._names = {n.lower() for n in names}
        self._networks = networks + self._routes()

    def _refreshed(self) -> bool:
        """Re-read the interfaces unless that was done within REFRESH_S; True if it was done now."""
        if self._read_at is not None and self._clock() - self._read_at < REFRESH_S:
            return False
        self._refresh()
        return True

    def allows_host(self, host: str) -> bool:
        """`host` is a Host header's name (an IPv6 address in brackets), without the port."""
        host = host.lower()
        if any(host.endswith(suffix) for suffix in self._wildcards):
            return True
        return host in self._names or (self._refreshed() and host in self._names)

    def allows_peer(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer.split("%")[0])
        except ValueError:
            return True  # not an IP peer (a Unix socket, the test client): nothing to check
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # an IPv4 client of the dual-stack socket
        if address.is_loopback or address.is_link_local or any(address in n for n in PRIVATE_NETWORKS
                                                                 if n.version == address.version):
            return True
        if self._fixed is not None:
            return False

        def on_link() -> bool:
            return any(address in network for network in self._networks)
        return on_link() or (self._refreshed() and on_link())


def _on_link_ipv6_routes(path: str = "/proc/net/ipv6_route") -> list:
    """IPv6 prefixes reached without a gateway: with DHCPv6 the Pi's own address is a /128
    and the LAN's /64 is only in the routing table."""
    networks = []
    try:
        with open(path) as routes:
            for line in routes:
                fields = line.split()
                if len(fields) < 10 or int(fields[1], 16) == 0 or fields[4] != "0" * 32:
                    continue  # malformed, the default route, or one through a gateway
                network = ipaddress.ip_network((int(fields[0], 16), int(fields[1], 16)), strict=False)
                if not (network.is_multicast or network.is_link_local or network.is_loopback):
                    networks.append(network)
    except (OSError, ValueError):
        pass  # no IPv6, or /proc/net hidden: the interfaces' own prefixes still count
    return networks


def host_of(header: str) -> str:
    """The name in a Host header: `[v6]:port`, `[v6]`, `name:port` or `name`."""
    if header.startswith("["):
        end = header.find("]")
        return header[:end + 1] if end > 0 else header
    return header.split(":", 1)[0]


class LocalNetworkOnly:
    """ASGI middleware: the Host check (400) and the client's network (403), before anything
    else reads the request."""

    def __init__(self, app, allow: HostAllowList):
        self.app, self.allow = app, allow

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            host = host_of(headers.get(b"host", b"").decode("latin-1"))
            client = scope.get("client")
            if not self.allow.allows_host(host):
                await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)
                return
            if client and not self.allow.allows_peer(client[0]):
                await PlainTextResponse("This page is for this Pi's local network", status_code=403)(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CHECKED = "treadmill.change_checked"  # scope key: this request has passed ChangeGuard.check


def _authority(host: str) -> str:
    """`host[:port]` as compared: lower case, port 80 (http's default) left out."""
    host = host.lower()
    return host[:-3] if host.endswith(":80") else host


def same_origin(origin: str, host_header: str) -> bool:
    """Whether a browser's Origin header names the page this request's Host header serves:
    exactly `http://<host>[:<port>]`, no path, no user, no other scheme."""
    scheme, _, authority = origin.partition("://")
    if scheme.lower() != "http" or not authority or any(c in authority for c in "/?#@\\"):
        return False
    return bool(host_header) and _authority(authority) == _authority(host_header)


def _shown(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def token_of(headers: Headers) -> str | None:
    token = headers.get("x-pairing-token")
    authorization = headers.get("authorization", "")
    if token is None and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    return token or None


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


class ChangeGuard:
    """The Origin, throttle and token checks of a state-changing request, from its scope."""

    def __init__(self, pairing: PairingStore, throttle: TokenThrottle):
        self.pairing, self.throttle = pairing, throttle

    def check(self, scope) -> Refusal | None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, headers.get("host", "")):
            return Refusal(403, f"requests from {_shown(origin)} are not accepted")
        token = token_of(headers)
        if token is None:
            return Refusal(401, "pairing token needed: run `treadmill-companion pair` and open its link",
                           {"WWW-Authenticate": "Bearer"})
        address = client_address(scope)
        wait = self.throttle.retry_after(address)
        if wait is not None:
            return Refusal(429, f"too many wrong pairing tokens from {address}: try again in {wait} s",
                           {"Retry-After": str(wait)})
        try:
            valid = self.pairing.verify(token)
        except PairingError as exc:
            return Refusal(503, str(exc))
        if not valid:
            self.throttle.wrong_token(address)
            return Refusal(403, "this pairing token is not valid (revoked or expired?): pair again")
        self.throttle.valid_token(address)
        scope[CHECKED] = True
        return None


def require_pairing(request: Request) -> None:
    """FastAPI dependency for every endpoint that needs the token. A state-changing request
    was checked already, before its body was read (limits.py); this checks the others."""
    if request.scope.get(CHECKED):
        return
    refusal = request.app.state.change_guard.check(request.scope)
    if refusal is not None:
        raise HTTPException(refusal.status, refusal.message, headers=refusal.headers or None)
