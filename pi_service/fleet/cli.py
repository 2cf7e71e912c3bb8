"""`treadmill-companion mqtt on|off|remove|status` and `treadmill-companion usage`.

`mqtt off` turns `[mqtt] enabled` off in the config file (the line edited in place, its
comments kept, the file replaced atomically) and removes this treadmill from the broker:
an empty retained message on each of its discovery configs, which deletes its entities
in Home Assistant, and on its availability and usage. `install.sh --uninstall` runs
`mqtt remove` (the same removal, the config left alone). Both refuse while a daemon runs on
the state folder: it would announce the entities again when it next connects.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

import click

from pi_service.errors import CompanionError

PROG = "treadmill-companion"
ENABLED_LINE = re.compile(r"^(\s*enabled\s*=\s*)(true|false)(.*)$")


def _load(config_path: str | None):
    from pi_service.config import load_config

    return load_config(config_path)


def set_enabled(text: str, enabled: bool) -> str:
    """`text` with `[mqtt] enabled` set: the key's line edited if it is written, else the key
    added under `[mqtt]` (or the table added at the end)."""
    from pi_service.config.toml_lines import key_lines

    value = "true" if enabled else "false"
    lines = text.splitlines(keepends=True)
    where = key_lines(text)
    if ("mqtt", "enabled") in where:
        index = where[("mqtt", "enabled")] - 1
        match = ENABLED_LINE.match(lines[index].rstrip("\r\n"))
        if match is None:
            raise CompanionError(f"line {index + 1}: mqtt.enabled is not written as `enabled = true|false`: "
                                 f"edit it by hand")
        ending = lines[index][len(lines[index].rstrip("\r\n")):]
        lines[index] = f"{match.group(1)}{value}{match.group(3)}{ending}"
        return "".join(lines)
    if ("mqtt",) in where and re.match(r"^\s*\[\s*mqtt\s*\]", lines[where[("mqtt",)] - 1]):
        index = where[("mqtt",)]
        lines.insert(index, f"enabled = {value}\n")
        return "".join(lines)
    return text + ("" if not text or text.endswith("\n") else "\n") + f"\n[mqtt]\nenabled = {value}\n"


def _refuse_while_running(config, sim: bool) -> None:
    from pi_service.storage.state_folder import running_daemon, state_dir

    folder = state_dir(config, sim)
    pid = running_daemon(folder)
    if pid is not None:
        shown = "" if pid < 0 else f" (PID {pid})"
        raise CompanionError(f"a daemon{shown} runs on {folder} and would announce this treadmill again: stop it "
                             f"first (sudo systemctl stop {PROG}), run this again, then start it")


def remove_from_broker(mqtt_config, timeout_s: float = 10.0) -> tuple[int, str]:
    """Empty retained messages on every retained topic of this treadmill; returns how many the
    broker acknowledged and where."""
    from pi_service.fleet.broker import BrokerSetupError, describe_failure, describe_refusal, loop_until, \
        make_client, where
    from pi_service.fleet.discovery import removal_topics
    from pi_service.fleet.topics import topics_for

    topics = topics_for(mqtt_config)
    answer, acked = [], set()
    try:
        client = make_client(mqtt_config, topics, client_id=f"treadmill-companion-{topics.device_id}-remove",
                             will=False)
    except BrokerSetupError as exc:
        raise CompanionError(str(exc)) from None
    client.on_connect = lambda c, u, flags, reason, properties: answer.append(reason)
    client.on_publish = lambda c, u, mid, reason, properties: acked.add(mid)
    try:
        client.connect(mqtt_config.host, mqtt_config.effective_port(), keepalive=30)
    except (OSError, ValueError) as exc:
        raise CompanionError(describe_failure(mqtt_config, exc) + ": nothing removed") from None
    deadline = time.monotonic() + timeout_s
    try:
        if not loop_until(client, lambda: answer, deadline):
            raise CompanionError(f"the broker at {where(mqtt_config)} did not answer: nothing removed")
        if answer[0].is_failure:
            raise CompanionError(describe_refusal(mqtt_config, answer[0]) + ": nothing removed")
        mids = {client.publish(topic, b"", qos=1, retain=True).mid for topic in removal_topics(topics)}
        if not loop_until(client, lambda: mids <= acked, deadline):
            raise CompanionError(f"the broker at {where(mqtt_config)} acknowledged {len(mids & acked)} of "
                                 f"{len(mids)} removals; run this again")
        return len(mids), f"{where(mqtt_config)} ({topics.prefix}/…/{topics.device_id}/…, {topics.base})"
    finally:
        client.disconnect()


@click.group()
def mqtt() -> None:
    """This treadmill on an MQTT broker and in Home Assistant: turn it on or off, check it."""


config_option = click.option("--config", "config_path", metavar="FILE", help="TOML config file.")
sim_option = click.option("--sim", is_flag=True, help="The virtual treadmill's state folder (`run --sim`).")


def _edit(config_path: str, enabled: bool):
    from pi_service.config import parse_config, read_text
    from pi_service.storage.atomic import write_atomic

    path = Path(config_path)
    text = read_text(path, "config file")
    changed = set_enabled(text, enabled)
    config = parse_config(changed, str(path))  # the edit must leave a valid config
    if changed != text:
        before = os.stat(path)  # the new file keeps the old one's mode and owner (the service reads it)
        write_atomic(path, changed, mode=stat.S_IMODE(before.st_mode))
        try:
            os.chown(path, before.st_uid, before.st_gid)
        except OSError:
            pass  # not root: the file is ours, as it was
    return config, changed != text


@mqtt.command("off")
@click.option("--config", "config_path", metavar="FILE", required=True, help="The TOML config file to edit.")
@sim_option
def mqtt_off(config_path: str, sim: bool) -> None:
    """Turn MQTT off in the config and remove this treadmill's entities from the broker."""
    before = _load(config_path)
    _refuse_while_running(before, sim)
    config, changed = _edit(config_path, False)
    click.echo(f"{config_path}: mqtt.enabled = false" + ("" if changed else " (it already was)"))
    count, where = remove_from_broker(before.mqtt)
    click.echo(f"removed {count} retained topics from {where}: Home Assistant drops this treadmill's entities")


@mqtt.command("on")
@click.option("--config", "config_path", metavar="FILE", required=True, help="The TOML config file to edit.")
def mqtt_on(config_path: str) -> None:
    """Turn MQTT on in the config and check the broker; the daemon publishes from its next start."""
    from pi_service.fleet.broker import probe
    from pi_service.fleet.topics import topics_for

    config, changed = _edit(config_path, True)
    click.echo(f"{config_path}: mqtt.enabled = true" + ("" if changed else " (it already was)"))
    ok, detail = probe(config.mqtt, topics_for(config.mqtt))
    click.echo(("broker: " if ok else "broker: FAIL: ") + detail)
    click.echo(f"restart the daemon to publish: sudo systemctl restart {PROG}")
    if not ok:
        raise SystemExit(1)


@mqtt.command("remove")
@config_option
@sim_option
@click.option("--force", is_flag=True, help="Remove even though mqtt.enabled is false.")
def mqtt_remove(config_path: str | None, sim: bool, force: bool) -> None:
    """Remove this treadmill's retained topics (its Home Assistant entities) from the broker."""
    config = _load(config_path)
    if not config.mqtt.enabled and not force:
        click.echo("mqtt.enabled = false: nothing is published, nothing removed (--force removes anyway)")
        return
    _refuse_while_running(config, sim)
    count, where = remove_from_broker(config.mqtt)
    click.echo(f"removed {count} retained topics from {where}")


@mqtt.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def mqtt_status(config_path: str | None, as_json: bool) -> None:
    """Where this treadmill publishes, and whether the broker takes its login."""
    from pi_service.fleet.broker import probe, where
    from pi_service.fleet.topics import topics_for

    config = _load(config_path)
    topics = topics_for(config.mqtt)
    ok, detail = probe(config.mqtt, topics) if config.mqtt.enabled else (False, "mqtt.enabled = false")
    report = {"enabled": config.mqtt.enabled, "broker": where(config.mqtt), "device_id": topics.device_id,
              "base_topic": topics.base, "discovery_prefix": topics.prefix, "ok": ok, "detail": detail}
    if as_json:
        click.echo(json.dumps(report))
    else:
        for key, value in report.items():
            click.echo(f"{key}: {value}")
    if config.mqtt.enabled and not ok:
        raise SystemExit(1)


@click.command()
@config_option
@sim_option
@click.option("--lubricated", is_flag=True, help="Record that the belt was lubricated now: the hint counts from here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def usage(config_path: str | None, sim: bool, lubricated: bool, as_json: bool) -> None:
    """Belt hours, distance and sessions since installation, and when the belt wants lubricating."""
    from pi_service.storage.state_folder import state_dir
    from pi_service.storage.usage import read_usage, record_lubrication

    config = _load(config_path)
    path = state_dir(config, sim) / "history.sqlite3"
    figures = record_lubrication(path, config.maintenance) if lubricated else read_usage(path, config.maintenance)
    if as_json:
        click.echo(json.dumps({**figures.to_dict(), "hint": figures.hint()}))
        return
    if lubricated:
        click.echo(f"belt lubrication recorded ({figures.lubricated_at}): the next is due in "
                   f"{config.maintenance.lubricate_every_h:g} h or {config.maintenance.lubricate_every_km:g} km")
    click.echo(f"belt: {figures.belt_hours:.1f} h, {figures.distance_km:.1f} km, {figures.sessions} sessions"
               f"{' since ' + figures.since[:10] if figures.since else ''}")
    click.echo(f"lubrication: {figures.hours_since_lubrication:.1f} h, {figures.km_since_lubrication:.1f} km since "
               f"{'the last (' + figures.lubricated_at[:10] + ')' if figures.lubricated_at else 'installation'}; "
               f"every {figures.lubricate_every_h:g} h or {figures.lubricate_every_km:g} km"
               f"{': DUE' if figures.lubrication_due else ''}")
