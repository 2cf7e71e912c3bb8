"""A real Mosquitto broker for the fleet tests (Debian's `mosquitto`, which `make test`
installs), on 127.0.0.1 and a free port, in its own folder: anonymous or with a password
file (made by `mosquitto_passwd`), plain or TLS (a test CA made by `openssl`), with
persistence so a subscriber with a session gets what was published while it was away.
`Subscriber` is Debian's `mosquitto_sub`, a client nobody here wrote, printing one JSON
object per message (`-F %j`: topic, payload, retain flag, QoS, receive time)."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@dataclass
class TestCA:
    ca: Path
    cert: Path
    key: Path


def make_ca(folder: Path, names: str = "DNS:localhost,IP:127.0.0.1") -> TestCA:
    """A CA and a server certificate it signed for `names` (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Treadmill test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (folder / "ext.cnf").write_text(f"subjectAltName={names}\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.pem")
    return TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")


class Broker:
    def __init__(self, folder: Path, users: dict[str, str] | None = None, tls: TestCA | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.users, self.tls = users, tls
        self.process: subprocess.Popen | None = None
        # Started as root, mosquitto becomes the `mosquitto` user, who cannot read a test's folder.
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {folder}/",
                 "autosave_interval 1", f"log_dest file {folder}/mosquitto.log", "log_type all"]
        if users:
            password_file = folder / "passwords"
            password_file.write_text("")
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(password_file), user, password], check=True,
                               capture_output=True, timeout=30)
            os.chmod(password_file, 0o600)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self) -> "Broker":
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.process.stderr.read()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def sub_args(self, user: str | None = None, password: str | None = None) -> list[str]:
        args = ["-h", "localhost" if self.tls else "127.0.0.1", "-p", str(self.port)]
        if user:
            args += ["-u", user, "-P", password or ""]
        if self.tls:
            args += ["--cafile", str(self.tls.ca)]
        return args

    def subscriber(self, *topics: str, client_id: str | None = None, user: str | None = None,
                   password: str | None = None) -> "Subscriber":
        """`client_id`: a persistent session (-c, QoS 1): messages published while it is
        disconnected, or the broker restarted, reach it when it is back."""
        return Subscriber(self, topics, client_id, user, password)


class Subscriber:
    def __init__(self, broker: Broker, topics, client_id, user, password):
        args = ["mosquitto_sub", *broker.sub_args(user, password), "-F", "%j", "-q", "1"]
        if client_id:
            args += ["-c", "-i", client_id]
        for topic in topics:
            args += ["-t", topic]
        self.args = args
        self.messages: list[dict] = []
        self._lock = threading.Lock()
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()

    def _read(self, process) -> None:
        for line in process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            message["received_t"] = time.monotonic()
            with self._lock:
                self.messages.append(message)

    def on(self, topic: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m["topic"] == topic]

    def wait_for(self, predicate, timeout_s: float = 30.0, what: str = "a message"):
        """Wait until `predicate(messages)` is true (returns its value), or fail saying `what`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                found = predicate(list(self.messages))
            if found:
                return found
            if self.process.poll() is not None:
                raise AssertionError(f"mosquitto_sub exited ({self.process.returncode}): {self.process.stderr.read()}")
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout_s:g} s; got {len(self.messages)} messages")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)


def payload(message: dict):
    """The message's payload, decoded as JSON when it is JSON (mosquitto_sub's %j embeds it as
    an object when it parses, else as a string)."""
    value = message.get("payload")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
