"""`treadmill-companion run`: the sampling process, then the web server, then an orderly stop.

Ctrl-C or SIGTERM reach uvicorn's handlers in this process; the server winds down (at
most one second of grace for open connections), then the sampling process is told to
stop and is joined. The whole stop takes well under two seconds.
"""

from __future__ import annotations

import logging
import signal
import time

import uvicorn

from pi_service.config import Config
from pi_service.recording import create_recording
from pi_service.sampling.process import SamplerProcess, SamplerThread
from pi_service.sampling.sampler import SamplerOptions
from pi_service.web.app import create_app

log = logging.getLogger("treadmill-companion")


class Terminated(BaseException):
    """SIGTERM arrived: stop as cleanly as for Ctrl-C, and exit 0 (systemd's normal stop)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def run_daemon(config: Config, options: SamplerOptions, host: str, port: int) -> None:
    if options.record:
        create_recording(options.record)
    started = time.monotonic()
    # uvicorn handles SIGTERM during serving and re-raises it to this handler when it is
    # done, so the sampling process is stopped in `finally` rather than orphaned.
    signal.signal(signal.SIGTERM, _on_sigterm)
    sampler = (SamplerThread if options.pacing == "naive" else SamplerProcess)(config, options)
    sampler.start()
    try:
        log.info("first sample %.2f s after start (%s)", time.monotonic() - started, sampler.realtime)
        app = create_app(sampler, config)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               timeout_graceful_shutdown=1, lifespan="off"))
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        mode = "virtual treadmill" if options.sim else "hardware"
        log.info("serving http://%s:%d (%s%s)", shown, port, mode, ", demo timings" if config.demo else "")
        server.run()
        if not server.started:
            raise OSError(f"could not serve on {host}:{port} (is the port in use?)")
    finally:
        sampler.stop()
        log.info("stopped")
