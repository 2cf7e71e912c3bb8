"""The broker connection as `[mqtt]` sets it up: paho-mqtt's client (MQTT 3.1.1) with the
login (the password read from `password_file`, never from the config), TLS checked
against `tls_ca_file`, and the last will `offline` on the availability topic. A failure to
connect is one line that says what to fix; `doctor` and `mqtt` check with `probe`.
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from pi_service.config import MqttConfig
from pi_service.fleet.topics import Topics

CONNECT_TIMEOUT_S = 5.0


class BrokerSetupError(Exception):
    """The config cannot make a client: the password or CA file cannot be read."""


def where(config: MqttConfig) -> str:
    return f"{config.host}:{config.effective_port()}"


def read_password(config: MqttConfig) -> str | None:
    if not config.password_file:
        return None
    try:
        text = Path(config.password_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise BrokerSetupError(f"mqtt.password_file {config.password_file}: cannot read: "
                               f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BrokerSetupError(f"mqtt.password_file {config.password_file}: not UTF-8 text") from None
    password = text.rstrip("\r\n")
    if not password or "\n" in password:
        raise BrokerSetupError(f"mqtt.password_file {config.password_file}: must hold the password on one line")
    return password


def make_client(config: MqttConfig, topics: Topics, client_id: str | None = None,
                will: bool = True) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"treadmill-companion-{topics.device_id}",
                         protocol=mqtt.MQTTv311, clean_session=True)
    client.connect_timeout = CONNECT_TIMEOUT_S
    password = read_password(config)
    if config.username:
        client.username_pw_set(config.username, password)
    elif password is not None:
        raise BrokerSetupError("mqtt.password_file is set but mqtt.username is empty")
    if config.tls_ca_file:
        if not Path(config.tls_ca_file).is_file():
            raise BrokerSetupError(f"mqtt.tls_ca_file {config.tls_ca_file}: no such file")
        try:
            client.tls_set(ca_certs=config.tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except (ssl.SSLError, OSError) as exc:
            raise BrokerSetupError(f"mqtt.tls_ca_file {config.tls_ca_file}: not a CA certificate ({exc})") from None
    if will:
        client.will_set(topics.availability, "offline", qos=1, retain=True)
    return client


def loop_until(client: mqtt.Client, done, deadline: float) -> bool:
    """Drive the client's network loop until `done()`, the monotonic `deadline`, or the
    connection failing; returns `done()`."""
    while not done() and time.monotonic() < deadline:
        if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
            break
    return bool(done())


def describe_failure(config: MqttConfig, exc: BaseException) -> str:
    """Why connecting to the broker failed, in words that say what to check."""
    at = where(config)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS to {at}: the broker's certificate is not trusted ({exc.verify_message}): check mqtt.tls_ca_file " \
               f"and that mqtt.host is a name on the certificate"
    if isinstance(exc, ssl.SSLError):
        return f"TLS to {at} failed ({exc.reason or exc}): is that port the broker's TLS listener?"
    if isinstance(exc, socket.gaierror):
        return f"cannot find the broker {config.host}: {exc.strerror}"
    if isinstance(exc, ConnectionRefusedError):
        return f"the broker at {at} refused the connection: is it running, and on that port?"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer from the broker at {at} within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(exc, OSError):
        return f"cannot reach the broker at {at}: {exc.strerror or exc}"
    return f"cannot connect to the broker at {at}: {exc}"


def describe_refusal(config: MqttConfig, reason) -> str:
    """The broker answered CONNACK with a refusal."""
    text = str(reason)
    hint = ""
    if "user name or password" in text.lower() or "not authori" in text.lower():
        hint = ": check mqtt.username and mqtt.password_file"
    return f"the broker at {where(config)} refused the login ({text}){hint}"


def probe(config: MqttConfig, topics: Topics, timeout_s: float = CONNECT_TIMEOUT_S) -> tuple[bool, str]:
    """Connect once (no will, its own client id), wait for the broker's answer, disconnect.
    Returns whether it worked and one line: what was reached, or what failed."""
    answer: list = []
    try:
        client = make_client(config, topics, client_id=f"treadmill-companion-{topics.device_id}-check", will=False)
    except BrokerSetupError as exc:
        return False, str(exc)
    client.on_connect = lambda c, userdata, flags, reason, properties: answer.append(reason)
    try:
        client.connect(config.host, config.effective_port(), keepalive=max(5, int(timeout_s)))
    except (OSError, ValueError) as exc:
        return False, describe_failure(config, exc)
    deadline = time.monotonic() + timeout_s
    try:
        while not answer and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS and not answer:
                return False, f"the broker at {where(config)} closed the connection before answering"
        if not answer:
            return False, f"the broker at {where(config)} did not answer the login within {timeout_s:g} s"
        if answer[0].is_failure:
            return False, describe_refusal(config, answer[0])
        tls = "TLS, certificate checked" if config.tls_ca_file else "no TLS"
        login = f"logged in as {config.username}" if config.username else "no login"
        return True, f"broker {where(config)} reached ({tls}, {login})"
    finally:
        client.disconnect()
