"""The `treadmill-companion` command line (click): each command is a thin shell over the package.

Every error a user can cause prints one line, `treadmill-companion: error: ...`, and
exits 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from pi_service import __version__
from pi_service.errors import CompanionError

PROG = "treadmill-companion"


class LazyGroup(click.Group):
    """Commands whose modules load only when used: `run` (and its sampling process, which
    re-imports this module) never pays for calibrate's and doctor's libraries."""

    LAZY = {"calibrate": "pi_service.maintenance.cli", "doctor": "pi_service.maintenance.cli",
            "mqtt": "pi_service.fleet.cli", "usage": "pi_service.fleet.cli"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx: click.Context, name: str):
        if name in self.LAZY:
            import importlib

            return getattr(importlib.import_module(self.LAZY[name]), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(__version__, prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Treadmill Companion: watches how a treadmill is used and nudges before habits turn into back pain."""
    ctx.obj = {"debug": debug}
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="%(name)s: %(message)s")


@cli.command()
@click.option("--sim", is_flag=True, help="Run on the virtual treadmill instead of a Pi's hardware.")
@click.option("--config", "config_path", metavar="FILE", help="TOML config file (default: built-in defaults).")
@click.option("--record", metavar="FILE.csv", help="Write calibrated samples to FILE.csv (spec recording format); "
              "an existing file is refused unless --force.")
@click.option("--force", is_flag=True, help="With --record: overwrite FILE.csv if it exists.")
@click.option("--host", help="Address to serve on (default: config web.host, '::', every interface).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to serve on (default: config web.port, 8080).")
@click.option("--scenario", metavar="NAME|FILE", help="Sim scenario: a bundled name or a file (default: config).")
@click.option("--speedup", type=click.FloatRange(0, 100, min_open=True),
              help="Sim: play the scenario this many times faster.")
@click.option("--pair", "print_pairing", is_flag=True,
              help="Once serving, print the page's link with a fresh pairing token (`make demo` does).")
@click.option("--naive-loop", is_flag=True, hidden=True,
              help="Benchmark baseline: sample in a sleep(period) thread inside the web process.")
def run(sim: bool, config_path: str | None, record: str | None, force: bool, host: str | None, port: int | None,
        scenario: str | None, speedup: float | None, print_pairing: bool, naive_loop: bool) -> None:
    """Run the companion: the sampling loop and the status page."""
    from pi_service.config import load_config
    from pi_service.daemon import run_daemon
    from pi_service.sampling.run import SamplerOptions

    config = load_config(config_path)
    if (scenario or speedup) and not sim:
        raise click.UsageError("--scenario and --speedup need --sim")
    if force and not record:
        raise click.UsageError("--force goes with --record FILE.csv")
    if record and not force:
        from pi_service.recording import refuse_to_overwrite

        refuse_to_overwrite(record)
    if scenario:
        from pi_service.sim.scenario import load_scenario

        load_scenario(scenario)  # a bad file fails here, with its line, before anything starts
    options = SamplerOptions(sim=sim, scenario=scenario, speedup=speedup, record=record,
                             pacing="naive" if naive_loop else "deadline")
    run_daemon(config, options, host or config.web.host, port or config.web.port, print_pairing=print_pairing)


@cli.command()
@click.argument("recording", metavar="FILE.csv")
@click.option("--config", "config_path", metavar="FILE", help="TOML config file with the rule thresholds.")
def replay(recording: str, config_path: str | None) -> None:
    """Run the safety rules over a recording; one JSON event per line on stdout."""
    from pi_service.config import load_config
    from pi_service.replay import replay_file

    replay_file(recording, load_config(config_path))


def _label_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from pi_service.pairing import check_label

    try:
        return None if value is None else check_label(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _expires_option(ctx: click.Context, param: click.Parameter, value: str | None):
    from pi_service.pairing import parse_expiry

    try:
        return None if value is None else parse_expiry(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _asks_for_label() -> bool:
    """Only a person at a terminal is asked; a script, a pipe or install.sh's log is not."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@cli.command()
@click.option("--config", "config_path", metavar="FILE", help="TOML config file (for the state folder and port).")
@click.option("--address", metavar="HOST", help="Host name or address to put in the link (default: where the "
              "daemon serves, or for every interface this Pi's first network address).")
@click.option("--host", help="Where the daemon serves, as `run --host` (default: the running daemon's, else "
              "config web.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port in the link, as `run --port` (default: the "
              "running daemon's, else config web.port).")
@click.option("--label", metavar="TEXT", callback=_label_option,
              help="What to call this phone in `pair --list` (default: asked at a terminal, else \"phone N\").")
@click.option("--expires", metavar="SPAN", callback=_expires_option,
              help="The token stops working after SPAN: 12h, 30d, 2w (default: never).")
@click.option("--list", "list_tokens", is_flag=True, help="List the tokens: id, label, created, expires, status.")
@click.option("--revoke", "revoke_id", metavar="ID", help="Revoke one token (its id from `pair --list`).")
@click.option("--revoke-all", is_flag=True, help="Revoke every token given so far (every phone must pair again); "
              "also replaces a broken pairing file.")
@click.option("--no-qr", is_flag=True, help="Print the link only, without the QR code.")
@click.option("--sim", is_flag=True, help="Pair with the virtual treadmill's daemon (`run --sim`; a demo config "
              "implies it).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts: {\"url\": ..., \"token\": ...}, "
              "or the list, or what was revoked.")
def pair(config_path: str | None, address: str | None, host: str | None, port: int | None, label: str | None,
         expires,
         list_tokens: bool, revoke_id: str | None, revoke_all: bool, no_qr: bool, sim: bool, as_json: bool) -> None:
    """Make a pairing token for one phone and print the page's link with it (and a QR code to scan)."""
    import json

    from pi_service.config import load_config
    from pi_service.pairing import FRESH_START, PairingError, PairingStore, page_address, page_link, read_serving
    from pi_service.storage.state_folder import state_dir

    chosen = [name for name, given in (("--list", list_tokens), ("--revoke", revoke_id is not None),
                                       ("--revoke-all", revoke_all)) if given]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} cannot be combined: give one")
    making = [name for name, given in (("--label", label is not None), ("--expires", expires is not None),
                                       ("--address", address is not None), ("--host", host is not None),
                                       ("--port", port is not None),
                                       ("--no-qr", no_qr)) if given]
    if chosen and making:
        verb = "applies" if len(making) == 1 else "apply"
        raise click.UsageError(f"{', '.join(making)} {verb} only when making a token, not with {chosen[0]}")
    config = load_config(config_path)
    folder = state_dir(config, sim)
    store = PairingStore(folder)
    if list_tokens:
        now = store.now()
        listed = [entry.summary(now) for entry in store.tokens()]
        if as_json:
            click.echo(json.dumps(listed))
        else:
            click.echo(_token_table(listed) if listed else f"no tokens in {store.path}: `{PROG} pair` makes one")
        return
    if revoke_id is not None:
        was = store.revoke(revoke_id)
        if as_json:
            click.echo(json.dumps({"revoked": was.id, "label": was.label, "already": was.revoked}))
        else:
            already = " (it already was)" if was.revoked else ": that phone must pair again"
            click.echo(f"revoked {was.id} ({was.label or 'no label'}){already}")
        return
    if revoke_all:
        try:
            store.tokens()
            broken = None
        except PairingError as exc:
            broken = str(exc).removesuffix(f"; {FRESH_START}")
        count = store.revoke_all()
        if as_json:
            click.echo(json.dumps({"revoked": count, "replaced_broken_file": broken is not None}))
        elif broken:
            click.echo(f"replaced the broken file ({broken}) with an empty one: every phone must pair again")
        else:
            click.echo(f"revoked {count} token{'s' if count != 1 else ''}: every phone must pair again")
        return
    if label is None and not as_json and _asks_for_label():
        label = click.prompt("Label for this phone", default=store.default_label(), value_proc=_prompted_label)
    token = store.new_token(label, expires)
    # As `run` takes them: the options, else where the daemon on this state folder serves, else the config.
    serving = read_serving(folder)
    host = host or (serving.host if serving else config.web.host)
    url = page_link(address or page_address(config, host), port or (serving.port if serving else config.web.port),
                    token)
    if as_json:
        click.echo(json.dumps({"url": url, "token": token}))
        return
    if serving is None and port is None:
        click.echo(f"(no daemon runs on {folder}: the link has the config's port, {config.web.port})")
    click.echo(f"Open this on the phone (it keeps the token):\n  {url}")
    if not no_qr:
        import segno

        segno.make(url, error="m").terminal(compact=True)
    click.echo(f"Token stored (hashed) in {store.path}; `{PROG} pair --list` shows the tokens, "
               f"`{PROG} pair --revoke ID` revokes one.")


def _prompted_label(text: str) -> str:
    from pi_service.pairing import check_label

    try:
        return check_label(text)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None  # (click.prompt says so and asks again)


def _token_table(listed: list[dict]) -> str:
    width = max(len("LABEL"), *(len(entry["label"] or "-") for entry in listed))
    lines = [f"{'ID':<8}  {'LABEL':<{width}}  {'CREATED':<25}  {'EXPIRES':<25}  STATUS"]
    for entry in listed:
        lines.append(f"{entry['id']:<8}  {entry['label'] or '-':<{width}}  {entry['created_at'] or '?':<25}  "
                     f"{entry['expires_at'] or 'never':<25}  {entry['status']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        code = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.Abort:
        code = 130
    except click.ClickException as exc:
        click.echo(f"{PROG}: error: {exc.format_message()}", err=True)
        code = 2
    except (CompanionError, OSError) as exc:
        if debug:
            raise
        message = str(exc) if isinstance(exc, CompanionError) else (exc.strerror or str(exc))
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.filename}: {message}"
        click.echo(f"{PROG}: error: {message}", err=True)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # stdout's reader went away (`replay ... | head`): stop quietly, as Unix tools do.
        sys.stdout = open(os.devnull, "w")
        code = 0
    except BaseException as exc:
        from pi_service.daemon import Terminated

        if not isinstance(exc, Terminated):
            raise
        code = 0
    sys.exit(code or 0)
