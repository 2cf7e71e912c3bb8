"""Who may change what: the Host allow-list, the Origin check and the pairing token.

- Every request's Host header must name this Pi (its host name, `<name>.local`, any of its
  addresses, localhost, or a name added in `[web] allowed_hosts`): a DNS-rebinding page
  on another site cannot reach the API under its own name. Starlette's
  TrustedHostMiddleware does the check (400 otherwise).
- A state-changing request that carries an Origin header (every browser sends one on a
  POST) must come from a page served under one of those names (403 otherwise).
- A state-changing request needs a pairing token (`Authorization: Bearer <token>` or
  `X-Pairing-Token`): none is 401, a wrong or revoked one 403; nothing changes either way.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import ifaddr
from fastapi import HTTPException, Request

from pi_service.config import Config
from pi_service.pairing import PairingError

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def allowed_hosts(config: Config) -> list[str]:
    """The names and addresses this Pi answers to."""
    hosts = set(LOCAL_NAMES) | set(config.web.allowed_hosts)
    name = socket.gethostname()
    hosts |= {name, f"{name}.local", socket.getfqdn()}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4:
                hosts.add(ip.ip)
            else:
                hosts.add(f"[{ip.ip[0].split('%')[0]}]")
    if config.web.host not in ("0.0.0.0", "::"):
        hosts.add(config.web.host)
    return sorted(hosts)


def origin_allowed(origin: str, hosts: list[str]) -> bool:
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if host is None:
        return False
    allowed = {name.lower() for name in hosts}  # (urlsplit lowercases the host; the Host check ignores case too)
    return host.lower() in allowed or f"[{host.lower()}]" in allowed


def require_pairing(request: Request) -> None:
    """FastAPI dependency for every state-changing endpoint."""
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(origin, request.app.state.allowed_hosts):
        raise HTTPException(403, f"requests from {origin} are not accepted")
    token = request.headers.get("x-pairing-token")
    authorization = request.headers.get("authorization", "")
    if token is None and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    if not token:
        raise HTTPException(401, "pairing token needed: run `treadmill-companion pair` and open its link",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        valid = request.app.state.pairing.verify(token)
    except PairingError as exc:
        raise HTTPException(503, str(exc)) from None
    if not valid:
        raise HTTPException(403, "this pairing token is not valid (revoked?): pair again")
