"""`calibrate` and `doctor`: the installer's commands. Interactive by default (rich prompts and
progress bars on stderr), fully scriptable with flags; `--sim` runs them on the virtual
treadmill; `--json` prints one JSON object on stdout for scripts."""

from __future__ import annotations

import json
import sys
import time

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.prompt import Confirm, FloatPrompt

from pi_service.maintenance.calibrate import (Rig, belt_from_length, belt_from_roller,
                                  belt_from_speed, check_pulses_per_m, count_pulses, incline_span, incline_zero,
                                  rail_span, rail_zero)
from pi_service.maintenance.calibration import KEYS, CalibrationStore, apply
from pi_service.maintenance.through_daemon import open_rig
from pi_service.units import mps_to_kmh

err = Console(stderr=True, highlight=False)
POSITIVE = click.FloatRange(0, min_open=True)


def _setup(config_path: str | None, sim: bool = False):
    from pi_service.config import load_config
    from pi_service.storage.state_folder import state_dir

    base = load_config(config_path)
    store = CalibrationStore(state_dir(base, sim), base)
    return base, store, apply(base, store.load())


class Bar:
    """A rich progress bar for `average`/`count_pulses`, one task per thing measured."""

    def __init__(self, quiet: bool):
        self.progress = None if quiet else Progress(TextColumn("{task.description}"), BarColumn(),
                                                    TimeRemainingColumn(), console=err, transient=True)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def __call__(self, what: str, fraction: float) -> None:
        if self.progress is None:
            return
        if what not in self.tasks:
            self.tasks[what] = self.progress.add_task(what, total=1.0)
        self.progress.update(self.tasks[what], completed=fraction)


def _ask_kg(side: str, given: float | None, interactive: bool) -> float:
    if given is not None:
        return given
    if not interactive:
        raise click.UsageError(f"--{side}-kg is needed without a terminal to ask on")
    while True:
        kg = FloatPrompt.ask(f"Put a known weight on the [b]{side}[/b] rail (hanging, hands off). How many kg",
                             console=err)
        if kg > 0:
            return kg
        err.print("[red]The weight must be more than 0 kg.[/red]")


def _confirm(question: str, yes: bool, interactive: bool) -> bool:
    if yes or not interactive:
        return True
    return Confirm.ask(question, console=err, default=True)


def _begin(config_path: str | None, sim: bool, as_json: bool):
    """(store, config with the calibration in force, interactive?, rig) for a calibration."""
    base, store, config = _setup(config_path, sim)
    rig = open_rig(config, store.path.parent, sim, notice=None if as_json else err.print)
    return store, config, sys.stdin.isatty() and not as_json, rig


def _get_ready(instruction: str, yes: bool, interactive: bool) -> None:
    """Tell the person what to do and wait until they are ready; stop, changing nothing, if they are not."""
    if not interactive:
        return
    err.print(instruction)
    if not _confirm("Ready?", yes, interactive):
        err.print("Stopped: the calibration in force is unchanged.")
        raise SystemExit(1)


def _finish(store: CalibrationStore, section: str, values: dict, detail: dict, as_json: bool, yes: bool,
            interactive: bool, rig) -> None:
    measured_by = {"daemon_pid": rig.pid} if rig.through_daemon else {"daemon_pid": None}
    if not _confirm("Save this calibration?", yes, interactive):
        err.print("Not saved: the calibration in force is unchanged.")
        raise SystemExit(1)
    saved = store.save(section, values, detail)
    if as_json:
        click.echo(json.dumps({"saved": section, "values": values, "detail": detail, "file": str(store.path),
                               **measured_by}))
    else:
        err.print(f"Saved to {store.path} ({saved[section]['made_at']}); the running daemon picks it up within a "
                  f"second. `treadmill-companion calibrate undo` restores the previous one.")


common = [
    click.option("--sim", is_flag=True, help="Calibrate the virtual treadmill (the sim plays your part)."),
    click.option("--config", "config_path", metavar="FILE", help="TOML config file."),
    click.option("--seconds", type=click.FloatRange(0.5, 120), default=3.0, show_default=True,
                 help="How long each reading is averaged."),
    click.option("--yes", is_flag=True, help="Save without asking."),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
]


def with_common(function):
    for option in reversed(common):
        function = option(function)
    return function


@click.group()
def calibrate() -> None:
    """Calibrate the sensors (guided; every step also takes flags for scripts)."""


@calibrate.command()
@with_common
@click.option("--left-kg", type=POSITIVE, help="The known load for the left rail, kg (else asked).")
@click.option("--right-kg", type=POSITIVE, help="The known load for the right rail, kg (else asked).")
def rails(sim, config_path, seconds, yes, as_json, left_kg, right_kg) -> None:
    """Rail force sensors: zero with hands off, then a known load on each rail."""
    store, config, interactive, rig = _begin(config_path, sim, as_json)
    try:
        _get_ready("Take your hands off both rails.", yes, interactive)
        with Bar(as_json) as bar:
            zero = rail_zero(rig, seconds, bar)
        values, detail = {}, {}
        for side, given in (("left", left_kg), ("right", right_kg)):
            kg = _ask_kg(side, given, interactive)
            with Bar(as_json) as bar:
                n_per_v, loaded = rail_span(rig, side, kg, zero[side], seconds, bar)
            values[f"{side}_zero_v"] = round(zero[side].mean, 6)
            values[f"{side}_n_per_v"] = round(n_per_v, 3)
            detail[side] = {"load_kg": kg, "zero_noise_n": round(zero[side].stdev * n_per_v, 2),
                            "loaded_v": round(loaded.mean, 6)}
            if not as_json:
                err.print(f"{side} rail: zero {zero[side].mean:.4f} V, {n_per_v:.1f} N/V, noise at rest "
                          f"{zero[side].stdev * n_per_v:.1f} N")
    finally:
        rig.close()
    _finish(store, "rails", values, detail, as_json, yes, interactive, rig)


@calibrate.command()
@with_common
@click.option("--roller-diameter", type=POSITIVE, metavar="M", help="Compute from the roller's diameter (m) ...")
@click.option("--magnets", type=click.IntRange(1, 64), help="... and the magnets on it.")
@click.option("--console-speed", type=POSITIVE, metavar="KMH",
              help="Measure: hold this speed on the console while the pulses are counted.")
@click.option("--belt-length", type=POSITIVE, metavar="M", help="Measure: the belt's length (m) ...")
@click.option("--revolutions", type=POSITIVE, help="... and the belt revolutions you counted while the pulses were.")
@click.option("--count-seconds", type=click.FloatRange(5, 300), default=30, show_default=True,
              help="How long pulses are counted.")
def belt(sim, config_path, seconds, yes, as_json, roller_diameter, magnets, console_speed, belt_length, revolutions,
         count_seconds) -> None:
    """Belt speed sensor: pulses per metre, from the roller or measured."""
    methods = [roller_diameter is not None or magnets is not None, console_speed is not None,
               belt_length is not None or revolutions is not None]
    if sum(methods) != 1:
        raise click.UsageError("choose one way: --roller-diameter with --magnets, --console-speed, "
                               "or --belt-length with --revolutions")
    store, config, interactive, rig = _begin(config_path, sim, as_json)
    try:
        if methods[0]:
            if roller_diameter is None or magnets is None:
                raise click.UsageError("--roller-diameter and --magnets go together")
            ppm, detail = belt_from_roller(roller_diameter, magnets), {"method": "roller",
                                                                       "roller_diameter_m": roller_diameter,
                                                                       "magnets": magnets}
        else:
            if methods[2] and (belt_length is None or revolutions is None):
                raise click.UsageError("--belt-length and --revolutions go together")
            what = (f"Run the belt at {console_speed:g} km/h on the console" if console_speed
                    else "Run the belt and count its revolutions with a chalk mark")
            _get_ready(f"{what}; counting pulses for {count_seconds:g} s.", yes, interactive)
            rig.run_belt(console_speed or (mps_to_kmh(belt_length * revolutions / count_seconds) if sim else 0))
            with Bar(as_json) as bar:
                pulses = count_pulses(rig, count_seconds, bar)
            if console_speed:
                ppm = belt_from_speed(pulses, console_speed, count_seconds)
                detail = {"method": "console speed", "speed_kmh": console_speed, "seconds": count_seconds,
                          "pulses": pulses}
            else:
                ppm = belt_from_length(pulses, belt_length, revolutions)
                detail = {"method": "belt length", "belt_length_m": belt_length, "revolutions": revolutions,
                          "pulses": pulses}
        check_pulses_per_m(ppm, config)
        detail["pulses_per_m"] = round(ppm, 4)
        if not as_json:
            err.print(f"{ppm:.3f} pulses per metre ({detail['method']})")
            _show_live_speed(rig, config, ppm, seconds)
    finally:
        rig.close()
    _finish(store, "belt", {"pulses_per_m": round(ppm, 4)}, detail, as_json, yes, interactive, rig)


def _show_live_speed(rig: Rig, config, ppm: float, seconds: float) -> None:
    """The belt's speed with the new figure, live, so the person can compare with the console."""
    ratio = config.belt.effective_pulses_per_m() / ppm
    end = time.monotonic() + seconds
    with err.status("") as status:
        while time.monotonic() < end:
            speed = mps_to_kmh(rig.speed_mps() * ratio)
            status.update(f"With this calibration the belt reads [b]{speed:.2f} km/h[/b]: compare with the console")
            time.sleep(0.25)
    err.print(f"The belt read {mps_to_kmh(rig.speed_mps() * ratio):.2f} km/h with the new calibration.")


@calibrate.command()
@with_common
@click.option("--known-pct", type=click.FloatRange(2, 40), help="Also set the span at this known incline (%).")
def incline(sim, config_path, seconds, yes, as_json, known_pct) -> None:
    """Incline sensor: zero on the flat deck; optionally the span at a known incline."""
    store, config, interactive, rig = _begin(config_path, sim, as_json)
    try:
        _get_ready("Set the deck flat (0 %) and step off the belt.", yes, interactive)
        with Bar(as_json) as bar:
            zero = incline_zero(rig, seconds, bar)
        values = {"zero_deg": round(zero.mean, 4)}
        detail = {"zero_noise_deg": round(zero.stdev, 4)}
        if known_pct is not None:
            _get_ready(f"Now raise the deck to {known_pct:g} % (measure it: rise over run).", yes, interactive)
            with Bar(as_json) as bar:
                values["span"] = round(incline_span(rig, known_pct, zero.mean, seconds, bar), 4)
            detail["known_pct"] = known_pct
        if not as_json:
            err.print(f"zero {values['zero_deg']:.3f} degrees" +
                      (f", span {values['span']:.3f}" if "span" in values else ""))
    finally:
        rig.close()
    _finish(store, "incline", values, detail, as_json, yes, interactive, rig)


SIM_FOLDER = click.option("--sim", is_flag=True, help="The virtual treadmill's calibration (its own state folder).")


@calibrate.command()
@SIM_FOLDER
@click.option("--config", "config_path", metavar="FILE", help="TOML config file.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON on stdout.")
def show(sim, config_path, as_json) -> None:
    """What is in force, and when it was made."""
    base, store, config = _setup(config_path, sim)
    calibration = store.load()
    in_force = {section: {key: getattr(getattr(config, section), key) for key in keys}
                for section, keys in KEYS.items()}
    in_force["belt"]["pulses_per_m"] = config.belt.effective_pulses_per_m()
    if as_json:
        click.echo(json.dumps({"file": str(store.path), "in_force": in_force, "calibration": calibration,
                               "earlier": len(store.previous())}))
        return
    click.echo(f"calibration file: {store.path}" + ("" if calibration else " (none yet: the config's values)"))
    for section, values in in_force.items():
        made = calibration.get(section, {}).get("made_at")
        source = f"calibrated {made}" if made else "from the config"
        shown = ", ".join(f"{key} = {value:g}" if isinstance(value, float) else f"{key} = {value}"
                          for key, value in values.items())
        click.echo(f"{section:8s} {shown}  ({source})")
    click.echo(f"{len(store.previous())} earlier calibration(s) kept for `calibrate undo`")


@calibrate.command()
@SIM_FOLDER
@click.option("--config", "config_path", metavar="FILE", help="TOML config file.")
def undo(sim, config_path) -> None:
    """Put back the calibration before the last change."""
    base, store, config = _setup(config_path, sim)
    restored = store.undo()
    made = {section: values.get("made_at") for section, values in restored.items() if isinstance(values, dict)}
    click.echo("restored the previous calibration" + (f": {made}" if made else " (the config's own values)"))


@click.command()
@click.option("--sim", is_flag=True, help="Check the virtual treadmill instead of a Pi's hardware.")
@click.option("--config", "config_path", metavar="FILE", help="TOML config file.")
@click.option("--belt-running", is_flag=True, help="The belt is moving now: check its pulses (else skipped).")
@click.option("--seconds", type=click.FloatRange(0.5, 30), default=2.0, show_default=True,
              help="How long the timed checks run.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON on stdout.")
@click.option("--sim-fault", type=click.Choice(["adxl345-missing", "ads1115-missing", "link-down"]), hidden=True,
              help="Tests: break the virtual treadmill first.")
def doctor(sim, config_path, belt_running, seconds, as_json, sim_fault) -> None:
    """Check the configuration and the hardware; one line per check; exit 1 if any fails."""
    from pi_service.maintenance.doctor import FAIL, PASS, Check, run_checks, service_checks
    from pi_service.errors import CompanionError

    interactive = sys.stdin.isatty() and not as_json
    try:
        base, store, config = _setup(config_path, sim)
        checks = [Check("config", PASS, config_path or "built-in defaults")]
    except CompanionError as exc:
        checks = [Check("config", FAIL, str(exc), "fix the file (see pi_service/config/example.toml)")]
        config = None
    if config is not None:
        def rig_factory() -> Rig:
            rig = open_rig(config, store.path.parent, sim)
            if sim and sim_fault and rig.treadmill is not None:
                _break(rig, config, sim_fault)
            return rig

        ask = (lambda question: Confirm.ask(question, console=err, default=True)) if interactive and not sim else None
        checks += run_checks(config, rig_factory, belt_running or sim, ask, seconds)
        checks += service_checks(config, store.path.parent / "history.sqlite3")
    failed = [check for check in checks if check.result == FAIL]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [check.to_dict() for check in checks]}))
    else:
        for check in checks:
            colour = {"pass": "green", "FAIL": "red", "warn": "magenta"}.get(check.result, "yellow")
            line = f"[{colour}]{check.result:4s}[/{colour}] {check.name}: {check.detail}"
            Console(highlight=False, soft_wrap=True).print(line + (f"\n     hint: {check.hint}" if check.hint and
                                                                   check.result != PASS else ""))
        click.echo(f"{len(checks) - len(failed)} of {len(checks)} checks passed" if not failed else
                   f"{len(failed)} check(s) failed: {', '.join(check.name for check in failed)}")
    if failed:
        raise SystemExit(1)


def _break(rig: Rig, config, fault: str) -> None:
    treadmill = rig.treadmill
    if fault == "adxl345-missing":
        treadmill.buses[config.incline.i2c_bus].inject(config.incline.address, "vanish")
    elif fault == "ads1115-missing":
        treadmill.buses[config.rails.i2c_bus].inject(config.rails.address, "vanish")
    elif fault == "link-down" and treadmill.console is not None:
        treadmill.console.unplug()
