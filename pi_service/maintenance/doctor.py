"""`doctor`: is everything wired and answering? One line per check, with a hint when it fails.

Checks, in order (a check whose prerequisite failed is skipped, not failed twice):
While a daemon runs, every check asks it (`through_daemon.py`) rather than opening the bus,
pins or serial port under it. Checks: config valid; I2C bus present; ADS1115 answering;
the accelerometer (ADXL345 or MPU-6050, `incline.chip`) answering with its ID; rail
readings plausible at rest; belt pulses while the belt moves; console link answering with
its firmware version; buzzer; sampling rate achievable. Then, from the config and the
history, whatever the hardware: the MQTT broker (reachable, login, TLS) when `[mqtt]
enabled`, and the belt's lubrication (`warn` when due: a hint, not a failure).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.config import ACCELEROMETERS, Config
from pi_service.drivers.accelerometer import CHIP_IDS, CHIP_NAMES
from pi_service.errors import CompanionError
from pi_service.maintenance.calibrate import Rig
from pi_service.units import mps_to_kmh

PASS, FAIL, SKIP, WARN = "pass", "FAIL", "skip", "warn"
REST_LIMIT_N = 20.0  # a rail reading more than this with hands off needs a zero
CONSOLE_HINT = ("check the UART wires (Pi TX to controller RX, RX to TX, GND), that the UART is enabled "
                "(raspi-config nonint do_serial_hw 0) and the controller has its firmware")


@dataclass
class Check:
    name: str
    result: str
    detail: str
    hint: str = ""

    def to_dict(self) -> dict:
        return {"check": self.name, "result": self.result, "detail": self.detail, "hint": self.hint}


def run_checks(config: Config, rig_factory: Callable[[], Rig], belt_moving: bool | None,
               ask: Callable[[str], bool] | None = None, seconds: float = 2.0) -> list[Check]:
    """`belt_moving`: True if the belt runs during the check (the sim runs it itself), None to skip."""
    checks: list[Check] = []
    try:
        rig = rig_factory()
    except (CompanionError, OSError) as exc:
        checks.append(Check("I2C bus and GPIO", FAIL, str(exc), "enable I2C: sudo raspi-config nonint do_i2c 0; "
                            "install the 'pi' extra for GPIO"))
        return checks
    try:
        rails, incline = config.rails, config.incline
        owner = f", through the running daemon (PID {rig.pid})" if rig.through_daemon else ""
        checks.append(Check("I2C bus", PASS, f"bus {rails.i2c_bus} open{owner}"))
        try:
            rig.probe_rails()
            ads = Check("ADS1115 (rails)", PASS, f"answers at 0x{rails.address:02x}")
        except (CompanionError, OSError) as exc:
            ads = Check("ADS1115 (rails)", FAIL, str(exc), f"check its wiring (SDA, SCL, 3V3, GND) and that ADDR "
                        f"gives 0x{rails.address:02x}; `i2cdetect -y {rails.i2c_bus}` should list it")
        checks.append(ads)
        accelerometer = f"{CHIP_NAMES[incline.chip]} (incline)"
        pins = ", ".join(f"{pin} 0x{address:02X}" for address, pin in ACCELEROMETERS[incline.chip][1])
        try:
            rig.pitch_deg()
            checks.append(Check(accelerometer, PASS,
                                f"answers at 0x{incline.address:02x} with {CHIP_IDS[incline.chip]}"))
        except (CompanionError, OSError) as exc:
            checks.append(Check(accelerometer, FAIL, str(exc), f"check its wiring and address "
                                f"({pins}); `i2cdetect -y {incline.i2c_bus}` should list it"))
        if ads.result == PASS:
            checks.append(_rails_at_rest(rig, config, seconds))
        else:
            checks.append(Check("rails at rest", SKIP, "the ADS1115 does not answer"))
        checks.append(_belt(rig, config, belt_moving, seconds))
        checks.append(_console(rig, config))
        checks.append(_buzzer(rig, config, ask))
        checks.append(_sampling_rate(rig, config, seconds))
    finally:
        rig.close()
    return checks


def _rails_at_rest(rig: Rig, config: Config, seconds: float) -> Check:
    rails = config.rails
    rig.load_rails(0.0, 0.0)
    forces = []
    try:
        for side, zero, gain in (("left", rails.left_zero_v, rails.left_n_per_v),
                                 ("right", rails.right_zero_v, rails.right_n_per_v)):
            volts = rig.measure(f"rail_{side}_v", seconds / 2, side)
            if abs(volts.mean) > 0.98 * rails.full_scale_v:
                return Check("rails at rest", FAIL, f"{side} rail at {volts.mean:.3f} V, the ADC's limit",
                             "a sensor wire is loose or shorted, or the gain (rails.full_scale_v) is too high")
            forces.append((side, (volts.mean - zero) * gain))
    except (CompanionError, OSError) as exc:
        return Check("rails at rest", FAIL, str(exc), "the ADS1115 stopped answering mid-check: check its wiring")
    shown = ", ".join(f"{side} {force:+.1f} N" for side, force in forces)
    bad = [side for side, force in forces if abs(force) > REST_LIMIT_N]
    if bad:
        return Check("rails at rest", FAIL, shown, "hands off the rails, then `treadmill-companion calibrate rails`")
    return Check("rails at rest", PASS, shown)


def _belt(rig: Rig, config: Config, belt_moving: bool | None, seconds: float) -> Check:
    if rig.sim:
        rig.run_belt(4.0)
    elif not belt_moving:
        return Check("belt pulses", SKIP, "the belt was not running", "run with the belt moving and --belt-running")
    start = rig.pulses()
    time.sleep(max(seconds, 2.0))
    pulses = rig.pulses() - start
    speed_kmh = mps_to_kmh(rig.speed_mps())
    if rig.treadmill is not None:
        rig.treadmill.world.override_speed_kmh = 0.0  # (a daemon's sim walks on when the rig closes)
    if pulses < 3:
        return Check("belt pulses", FAIL, f"{pulses} pulses with the belt moving",
                     f"check the belt sensor on GPIO{config.belt.gpio}, its magnet gap and belt.pull_up")
    return Check("belt pulses", PASS, f"{pulses} pulses in {max(seconds, 2.0):g} s, {speed_kmh:.1f} km/h")


def _console(rig: Rig, config: Config) -> Check:
    if not config.console.enabled:
        return Check("console link", SKIP, "console.enabled = false")
    if rig.through_daemon:  # the daemon has the serial port: its link's state is the answer
        state = rig.snapshot().get("console") or {}
        port = state.get("port", config.console.port)
        if state.get("alive") and state.get("firmware"):
            return Check("console link", PASS, f"{port}: firmware {state['firmware']}, incline "
                         f"{state.get('position_pct') or 0:.1f} % (the daemon's link)")
        return Check("console link", FAIL, f"{port}: {state.get('error') or 'the daemon hears no valid answer'}",
                     CONSOLE_HINT)
    from pi_service.console.link import ConsoleLink

    port = rig.treadmill.console_port if rig.sim else config.console.port
    link = ConsoleLink(port, config.console.baud, loop_deadline_s=None)  # no sampling loop here
    link.start()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not (link.state.alive and link.state.firmware):
            time.sleep(0.05)
        state = link.state
    finally:
        link.close()
    if state.alive and state.firmware:
        return Check("console link", PASS, f"{port}: firmware {state.firmware}, incline {state.position_pct:.1f} %")
    return Check("console link", FAIL, f"{port}: {state.error or 'no valid answer in 2 s'}", CONSOLE_HINT)


def _buzzer(rig: Rig, config: Config, ask: Callable[[str], bool] | None) -> Check:
    from pi_service.drivers.buzzer import BuzzerDriver

    if rig.through_daemon:  # the daemon has the pin: it beeps
        try:
            rig.beep(0.15)
        except CompanionError as exc:
            return Check("buzzer", FAIL, str(exc), "is the daemon's sampling loop running?")
        if ask is not None and not ask("Did you hear a short beep?"):
            return Check("buzzer", FAIL, f"GPIO{config.buzzer.gpio} beeped (the daemon) but nothing was heard",
                         "check the buzzer's wiring and polarity, and buzzer.active_high")
        return Check("buzzer", PASS, f"GPIO{config.buzzer.gpio} beeped through the daemon")
    try:
        buzzer = BuzzerDriver(rig.pin_factory, config.buzzer.gpio, config.buzzer.active_high)
    except Exception as exc:  # noqa: BLE001 - gpiozero raises several kinds for a pin in use
        return Check("buzzer", FAIL, f"GPIO{config.buzzer.gpio}: {exc}", "is another program using the pin?")
    try:
        buzzer.device.on()
        was_on = buzzer.device.is_active
        time.sleep(0.15)
        buzzer.device.off()
        was_off = not buzzer.device.is_active
    finally:
        buzzer.close()
    if not (was_on and was_off):
        return Check("buzzer", FAIL, f"GPIO{config.buzzer.gpio} did not switch", "check buzzer.gpio")
    if ask is not None and not ask("Did you hear a short beep?"):
        return Check("buzzer", FAIL, f"GPIO{config.buzzer.gpio} switched but nothing was heard",
                     "check the buzzer's wiring and polarity, and buzzer.active_high")
    return Check("buzzer", PASS, f"GPIO{config.buzzer.gpio} switched on and off")


def _sampling_rate(rig: Rig, config: Config, seconds: float) -> Check:
    from pi_service.sampling.loop import FixedRateLoop
    from pi_service.sampling.stats import LoopStats

    rate = config.sampling.rate_hz
    if rig.through_daemon:  # the daemon's own loop, measured as it runs
        loop = rig.snapshot()["loop"]
        detail = (f"{loop['rate_hz']:.1f} Hz of {rate:g}, lateness p99 {loop['late_p99_ms']:.2f} ms "
                  f"({loop['realtime']}, the daemon's loop)")
        if abs(loop["rate_hz"] - rate) > 0.01 * rate:
            return Check("sampling rate", FAIL, detail, "the machine is too busy, or lower sampling.rate_hz")
        return Check("sampling rate", PASS, detail)
    stats = LoopStats()
    ticks = []

    def tick(t: float) -> None:
        ticks.append(t)
        rig.belt.speed_mps(t)
        rig.adc.probe()

    # As the daemon runs its loop (sampling/run.py): what exists now is kept out of garbage
    # collections, or a full one (20-30 ms here, with the virtual treadmill's threads)
    # lands in the measurement now and then and fails a machine the daemon runs fine on.
    gc.freeze()
    end = time.monotonic() + seconds
    try:
        FixedRateLoop(rate, tick, stats).run(lambda: time.monotonic() >= end)
    except (CompanionError, OSError) as exc:
        return Check("sampling rate", FAIL, str(exc), "the I2C bus fails under load: check the wiring")
    finally:
        gc.unfreeze()
    achieved = (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 else 0.0
    late = stats.figures.late_p99_ms
    detail = f"{achieved:.1f} Hz of {rate:g}, lateness p99 {late:.2f} ms"
    if abs(achieved - rate) > 0.01 * rate:
        return Check("sampling rate", FAIL, detail, "the machine is too busy, or lower sampling.rate_hz")
    # Achievable: the rate holds, and wake-ups are late by well under a period (the daemon's
    # own loop does better with real-time scheduling; this check runs without it).
    if late > 500 / rate:
        return Check("sampling rate", FAIL, detail, "run as the systemd unit, which allows real-time scheduling, "
                     "or lower sampling.rate_hz")
    return Check("sampling rate", PASS, detail)


def service_checks(config: Config, history_path) -> list[Check]:
    """The broker, when MQTT is on, and the belt's maintenance from the usage counters."""
    import sqlite3

    from pi_service.storage.usage import read_usage

    checks = []
    if not config.mqtt.enabled:
        checks.append(Check("MQTT broker", SKIP, "mqtt.enabled = false"))
    else:
        from pi_service.fleet.broker import probe
        from pi_service.fleet.topics import topics_for

        ok, detail = probe(config.mqtt, topics_for(config.mqtt))
        checks.append(Check("MQTT broker", PASS if ok else FAIL, detail,
                            "" if ok else "see docs/fleet.md: the broker's address, its login and TLS"))
    try:
        usage = read_usage(history_path, config.maintenance)
    except sqlite3.Error as exc:
        checks.append(Check("belt lubrication", FAIL, f"the history {history_path} cannot be read: {exc}"))
        return checks
    figures = (f"{usage.hours_since_lubrication:.1f} h, {usage.km_since_lubrication:.0f} km since "
               f"{'the last (' + usage.lubricated_at[:10] + ')' if usage.lubricated_at else 'installation'}; "
               f"every {usage.lubricate_every_h:g} h or {usage.lubricate_every_km:g} km")
    if usage.lubrication_due:
        checks.append(Check("belt lubrication", WARN, "due: " + figures,
                            "lubricate the belt (the treadmill's manual says how), then "
                            "`treadmill-companion usage --lubricated`"))
    else:
        checks.append(Check("belt lubrication", PASS, figures))
    return checks
