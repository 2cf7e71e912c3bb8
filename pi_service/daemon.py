"""`treadmill-companion run`: the sampling process, then the web server, then an orderly stop.

Ctrl-C or SIGTERM reach uvicorn's handlers in this process; the server winds down (at
most one second of grace for open connections), then the sampling process is told to
stop and is joined. The whole stop takes well under two seconds.

Once its socket is bound it writes where it serves into its state folder (`serving.json`,
pairing.py), so `pair` links to the port it really serves on; with `--pair` (`make demo`)
it prints the page's link with a fresh token itself, on stdout, never in the log.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import signal
import socket
import time

from pi_service.config import Config
from pi_service.errors import CompanionError
from pi_service.recording import create_recording
from pi_service.sampling.process import SamplerProcess, SamplerThread
from pi_service.sampling.run import SamplerOptions
from pi_service.notify import Watchdog, notify
from pi_service.pairing import PairingError, PairingStore, page_address, page_link, remove_serving, write_serving
from pi_service.storage.state_folder import StateFolderLock, state_dir
from pi_service.web.app import create_app
from pi_service.web.server import build_server, raise_open_file_limit
from pi_service.web.status import loop_health

log = logging.getLogger("treadmill-companion")


class Terminated(BaseException):
    """SIGTERM arrived: stop as cleanly as for Ctrl-C, and exit 0 (systemd's normal stop)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts so a busy port is a clear error.

    "::" is every interface, IPv4 and IPv6 on one socket (IPv4 clients appear as
    ::ffff:a.b.c.d), whatever the net.ipv6.bindv6only sysctl says; on a Pi booted with
    IPv6 disabled it falls back to every IPv4 interface."""
    every_interface = host == "::"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except (socket.gaierror, OSError) as exc:
        if every_interface:
            return _ipv4_only(port)
        raise CompanionError(f"--host {host}: {exc.strerror}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if every_interface:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if every_interface and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return _ipv4_only(port)
        raise CompanionError(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def _ipv4_only(port: int) -> socket.socket:
    log.info("no IPv6 here: serving on IPv4 only")
    return bind("0.0.0.0", port)


def _health(sampler) -> tuple[bool, str]:
    snapshot, reason = loop_health(sampler)
    if snapshot is None:
        return False, reason
    loop = snapshot["loop"]
    return True, f"sampling {loop['rate_hz']:.1f} Hz, lateness p99 {loop['late_p99_ms']:.2f} ms"


def _start_fleet(config: Config, sampler, folder):
    """The MQTT publisher, when `[mqtt] enabled`: a thread of this process reading the
    snapshots and the history's outbox (fleet/publisher.py). Only the daemon that holds the
    state folder publishes, as only it writes the history."""
    if not config.mqtt.enabled:
        return None
    if folder is None:
        log.warning("MQTT: not publishing: another daemon holds this state folder and its history")
        return None
    from pi_service.fleet.publisher import FleetPublisher

    fleet = FleetPublisher(config, sampler.board, folder / "history.sqlite3")
    fleet.start()
    return fleet


def run_daemon(config: Config, options: SamplerOptions, host: str, port: int, print_pairing: bool = False) -> None:
    # One daemon per state folder: it owns the history, and the hardware that `calibrate`
    # and `doctor` reach through its service port.
    folder = state_dir(config, options.sim)
    lock = StateFolderLock(folder)
    try:
        _serve(config, dataclasses.replace(options, service_port=lock.held), host, port,
               folder if lock.held else None, print_pairing)
    finally:
        lock.close()


def _announce(config: Config, folder, host: str, port: int, print_pairing: bool) -> None:
    """Where this daemon serves, for `pair`; and with `print_pairing` the page's link with a
    fresh token. A folder that cannot be written loses only these, with a warning."""
    try:
        write_serving(folder, host, port)
    except OSError as exc:
        log.warning("cannot write where this daemon serves into %s (%s): `pair` links to the config's port",
                    folder, exc.strerror)
    if print_pairing:
        try:
            token = PairingStore(folder).new_token("run --pair")
        except PairingError as exc:
            log.warning("no pairing link: %s", exc)
            return
        print(f"Pair a phone (or this browser) with: {page_link(page_address(config, host), port, token)}",
              flush=True)


def _serve(config: Config, options: SamplerOptions, host: str, port: int, folder=None,
           print_pairing: bool = False) -> None:
    """`folder`: the state folder this daemon holds (None: it could not lock it)."""
    # Up to the unit's LimitNOFILE= (soft limits start at 1024); the server's connection cap
    # follows what is in force (web/server.py).
    raise_open_file_limit()
    sock = bind(host, port)
    if options.record:
        create_recording(options.record)
    started = time.monotonic()
    # uvicorn handles SIGTERM during serving and re-raises it to this handler when it is
    # done, so the sampling process is stopped in `finally` rather than orphaned.
    signal.signal(signal.SIGTERM, _on_sigterm)
    sampler = (SamplerThread if options.pacing == "naive" else SamplerProcess)(config, options)
    watchdog = fleet = None
    try:
        sampler.start()
        log.info("first sample %.2f s after start (%s)", time.monotonic() - started, sampler.realtime)
        fleet = _start_fleet(config, sampler, folder)
        app = create_app(sampler, config, sim=options.sim, fleet=fleet)
        server = build_server(app)  # on `sock`, which it owns from here
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        mode = "virtual treadmill" if options.sim else "hardware"
        log.info("serving http://%s:%d (%s%s)", shown, port, mode, ", demo timings" if config.demo else "")
        if folder is not None:
            _announce(config, folder, host, port, print_pairing)
        # Under systemd (Type=notify): ready now (the socket already queues connections), and
        # the watchdog pinged only while the loop publishes fresh snapshots.
        watchdog = Watchdog(lambda: _health(sampler))
        watchdog.start()
        notify("READY=1", f"STATUS=serving on port {port}, sampling ({sampler.realtime})")
        server.run(sockets=[sock])
    finally:
        notify("STOPPING=1")
        if watchdog is not None:
            watchdog.close()
        sampler.stop()
        if fleet is not None:
            fleet.close()  # after the sampler: its last events and session are in the outbox by now
        sock.close()
        if folder is not None:
            remove_serving(folder)
        log.info("stopped")
