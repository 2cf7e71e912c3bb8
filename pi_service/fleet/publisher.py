"""The daemon's MQTT publisher: one thread in the web server's process, a reader of the
snapshot board and of the history's outbox, as the web layer is. It never touches the
sampling process: a broker that is slow, gone or refusing costs this thread only.

One thread owns the paho-mqtt client and drives its network loop (`loop(0.1)`), so the
callbacks run here too and only set flags. Each pass, when connected:
- discovery and `online` (retained) after each connect and when Home Assistant says `online`;
- `<base>/state` at 1 Hz during a session, at once on a change (the belt, a session, a rule,
  a fault), and once a minute otherwise;
- the outbox's rows (events, finished sessions) in order, QoS 1, at most INFLIGHT unacknowledged;
  a row is deleted when the broker acknowledges it, so a broker away or a restart loses none;
- `<base>/usage` (retained) when it changes, looked at once a minute and after each session.
Connecting is retried with exponential back-off (1 s to 60 s, jittered); why it fails is
`error`, which the page and `doctor` show. On a clean stop the outbox gets a second to drain,
then `offline` is published; after a `kill -9` the broker publishes the last will instead.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt

from pi_service.config import Config
from pi_service.fleet.broker import CONNECT_TIMEOUT_S, BrokerSetupError, describe_failure, describe_refusal, \
    loop_until, make_client, where
from pi_service.fleet.discovery import discovery_messages
from pi_service.fleet.state import state_key, state_payload
from pi_service.fleet.topics import topics_for
from pi_service.storage.outbox import Outbox
from pi_service.storage.usage import read_usage
from pi_service.units import kmh_to_mps

log = logging.getLogger(__name__)

PASS_S = 0.1  # the network loop's wait: how soon a new snapshot or an acknowledgement is seen
STATE_EVERY_S = 1.0
IDLE_EVERY_S = 60.0
USAGE_EVERY_S = 60.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 60.0
INFLIGHT = 50  # outbox messages handed to the client and not yet acknowledged
DRAIN_S = 1.0  # a clean stop waits this long for the outbox to empty


def _dumps(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"))


class FleetPublisher:
    def __init__(self, config: Config, board, history_path: Path, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.config, self.mqtt = config, config.mqtt
        self.topics = topics_for(config.mqtt)
        self.board, self.history_path = board, history_path
        self.clock, self.wall = clock, wall
        self.belt_running_mps = kmh_to_mps(config.rules.session_start_kmh)
        # What the page and `doctor` read (plain attributes: written here, read from other threads).
        self.connected = False
        self.error: str | None = None
        self.error_since: float | None = None
        self.sent = {"state": 0, "event": 0, "session": 0, "usage": 0, "discovery": 0}
        self.waiting = 0  # outbox rows not yet acknowledged
        self.dropped = 0  # outbox rows pushed out unsent (the outbox was full)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._client: mqtt.Client | None = None
        self._outbox: Outbox | None = None
        self._backoff = BACKOFF_MIN_S
        self._next_attempt = 0.0
        self._connecting_until: float | None = None
        self._answer = None  # the CONNACK's reason code
        self._lost = False
        self._announce = False
        self._acked: list[int] = []
        self._handed: dict[int, tuple[int, str]] = {}  # mid -> (seq, kind)
        self._last_seq = 0
        self._last_t = None
        self._last_key = None
        self._state_due = 0.0
        self._usage_due = 0.0
        self._usage_sent: str | None = None
        self._counted_due = 0.0

    # -- the daemon's side ----------------------------------------------------------------

    def start(self) -> None:
        log.info("MQTT: publishing to %s as %s (base %s)", where(self.mqtt), self.topics.device_id, self.topics.base)
        self._thread.start()

    def close(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def status(self) -> dict:
        return {"broker": where(self.mqtt), "connected": self.connected, "error": self.error,
                "waiting": self.waiting, "dropped": self.dropped, "sent": dict(self.sent),
                "base_topic": self.topics.base}

    def fault(self, now: float) -> dict | None:
        """The link's fault for /api/status's `faults`, while it is not connected for a reason."""
        if self.connected or self.error is None:
            return None
        return {"channel": "mqtt", "device": f"MQTT broker {where(self.mqtt)}", "reason": self.error,
                "since_t": self.error_since if self.error_since is not None else now}

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._pass()
            self._finish()
        except Exception:  # noqa: BLE001 - the publisher must never take the daemon down
            log.exception("MQTT publisher stopped")
            self.connected = False
            self.error = "the MQTT publisher stopped on an internal error (see the log)"

    def _pass(self) -> None:
        now = self.clock()
        if self.connected:
            rc = self._client.loop(timeout=PASS_S)
            if rc != mqtt.MQTT_ERR_SUCCESS or self._lost:
                self._connection_lost(rc)
                return
            self._work(self.clock())
        elif self._connecting_until is not None:
            self._client.loop(timeout=PASS_S)
            self._connect_answered(now)
        elif now >= self._next_attempt:
            self._connect(now)
        else:
            self._count_outbox()  # what waits for the broker, for the page
            self._stop.wait(min(0.5, self._next_attempt - now))

    def _count_outbox(self) -> None:
        try:
            if self._outbox is None:
                self._outbox = Outbox(self.history_path)
            self.waiting, self.dropped = self._outbox.waiting(), self._outbox.dropped()
        except sqlite3.Error:
            pass  # said when connected, where the rows are read

    def _connect(self, now: float) -> None:
        try:
            if self._client is None:
                self._client = make_client(self.mqtt, self.topics)
                self._client.on_connect = self._on_connect
                self._client.on_disconnect = self._on_disconnect
                self._client.on_publish = self._on_publish
                self._client.on_message = self._on_message
                self._client.connect(self.mqtt.host, self.mqtt.effective_port(), keepalive=self.mqtt.keepalive_s)
            else:
                self._client.reconnect()
        except BrokerSetupError as exc:
            self._client = None
            self._failed(str(exc), BACKOFF_MAX_S)
            return
        except (OSError, ValueError) as exc:
            self._failed(describe_failure(self.mqtt, exc))
            return
        self._answer, self._lost = None, False
        self._connecting_until = now + CONNECT_TIMEOUT_S

    def _connect_answered(self, now: float) -> None:
        if self._answer is None:
            if self._lost or now > self._connecting_until:
                self._connecting_until = None
                self._client.disconnect()
                self._failed(f"the broker at {where(self.mqtt)} did not answer the login")
            return
        self._connecting_until = None
        if self._answer.is_failure:
            self._client.disconnect()
            self._failed(describe_refusal(self.mqtt, self._answer))
            return
        if self.error is not None:
            log.info("MQTT: connected to %s", where(self.mqtt))
        self.connected, self.error, self.error_since = True, None, None
        self._backoff = BACKOFF_MIN_S
        self._client.subscribe(self.topics.ha_status, qos=1)
        self._announce = True
        self._usage_due = self._state_due = 0.0
        self._last_key = None
        self._usage_sent = None

    def _failed(self, reason: str, wait_s: float | None = None) -> None:
        if reason != self.error:
            log.warning("MQTT: %s (trying again, backing off up to %g s)", reason, BACKOFF_MAX_S)
            self.error_since = self.clock()
        self.error = reason
        wait = self._backoff if wait_s is None else wait_s
        self._next_attempt = self.clock() + wait * random.uniform(0.8, 1.2)
        self._backoff = min(BACKOFF_MAX_S, self._backoff * 2)

    def _connection_lost(self, rc) -> None:
        self.connected = False
        self._failed(f"lost the connection to the broker at {where(self.mqtt)} ({mqtt.error_string(rc)})")

    # paho's callbacks: called from `loop`, in this thread; they only note what came.
    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        self._answer = reason

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self._lost = True

    def _on_publish(self, client, userdata, mid, reason, properties) -> None:
        self._acked.append(mid)

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == self.topics.ha_status and message.payload.strip() == b"online":
            self._announce = True

    # -- publishing -----------------------------------------------------------------------

    def _publish(self, topic: str, payload: str, qos: int = 0, retain: bool = False) -> int:
        return self._client.publish(topic, payload, qos=qos, retain=retain).mid

    def _work(self, now: float) -> None:
        if self._announce:
            self._announce = False
            for topic, config in discovery_messages(self.topics):
                self._publish(topic, _dumps(config), qos=1, retain=True)
                self.sent["discovery"] += 1
            self._publish(self.topics.availability, "online", qos=1, retain=True)
        self._state(now)
        try:
            if self._outbox is None:
                self._outbox = Outbox(self.history_path)
            self._send_outbox()
        except sqlite3.Error as exc:
            log.warning("MQTT: the outbox in %s cannot be read: %s", self.history_path, exc)
            if self._outbox is not None:
                self._outbox.close()
            self._outbox = None
        if now >= self._usage_due:
            self._usage(now)

    def _state(self, now: float) -> None:
        snapshot = self.board.read(wait_s=0)
        if snapshot is None or snapshot["t"] == self._last_t:
            return
        payload = state_payload(snapshot, self.belt_running_mps, self.wall())
        key = state_key(payload)
        due = now >= self._state_due
        if key == self._last_key and not due:
            return
        self._publish(self.topics.state, _dumps(payload))
        self.sent["state"] += 1
        every = STATE_EVERY_S if payload["session"] is not None else IDLE_EVERY_S
        # While nothing changes, on the 1 Hz grid (no drift from the pass period); else from now.
        on_grid = key == self._last_key and due and now - self._state_due < every
        self._state_due = self._state_due + every if on_grid else now + every
        self._last_t, self._last_key = snapshot["t"], key

    def _send_outbox(self) -> None:
        done, usage_changed = [], False
        for mid in self._acked:
            if mid in self._handed:
                seq, kind = self._handed.pop(mid)
                done.append(seq)
                self.sent[kind] += 1
                usage_changed |= kind == "session"
        self._acked.clear()
        if done:
            self._outbox.remove(done)
        if usage_changed:
            self._usage_due = 0.0
        handed = []
        if len(self._handed) < INFLIGHT:
            for seq, kind, text in self._outbox.after(self._last_seq, INFLIGHT - len(self._handed)):
                payload = {**json.loads(text), "seq": seq}
                topic = self.topics.event if kind == "event" else self.topics.session
                self._handed[self._publish(topic, _dumps(payload), qos=1)] = (seq, kind)
                self._last_seq = seq
                handed.append(seq)
        now = self.clock()
        if done or handed or now >= self._counted_due:  # the page's figures: on a change, else once a second
            self._counted_due = now + 1.0
            self.waiting, self.dropped = self._outbox.waiting(), self._outbox.dropped()

    def _usage(self, now: float) -> None:
        self._usage_due = now + USAGE_EVERY_S
        try:
            usage = read_usage(self.history_path, self.config.maintenance).to_dict()
        except sqlite3.Error as exc:
            log.warning("MQTT: usage counters not read from %s: %s", self.history_path, exc)
            return
        text = _dumps(usage)
        if text != self._usage_sent:
            self._publish(self.topics.usage, text, qos=1, retain=True)
            self._usage_sent = text
            self.sent["usage"] += 1

    def _finish(self) -> None:
        """A clean stop: the outbox gets DRAIN_S to empty, then `offline` (retained) and a
        clean disconnect, which tells the broker not to send the last will."""
        if self.connected:
            deadline = self.clock() + DRAIN_S
            while self.clock() < deadline and self.connected:
                self._pass()
                if not self._handed and self.waiting == 0:
                    break
            if self.connected:
                mid = self._publish(self.topics.availability, "offline", qos=1, retain=True)
                loop_until(self._client, lambda: mid in self._acked, time.monotonic() + DRAIN_S)
        if self._client is not None:
            self._client.disconnect()
        self.connected = False
        if self._outbox is not None:
            self._outbox.close()
