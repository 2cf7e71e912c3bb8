#!/bin/sh
# Install (or uninstall) Treadmill Companion on Raspberry Pi OS as a systemd service.
#
#   sudo systemd/install.sh                 install or update, start, print the page's link
#   sudo systemd/install.sh --uninstall     stop and remove the service, the program and its MQTT entities
#   sudo systemd/install.sh --uninstall --purge   ... and the config and the history too
#   systemd/install.sh --root DIR --dry-run       write the files under DIR, print the commands
#
# Idempotent: running it again updates the program and the unit, and never overwrites
# the config in /etc/treadmill-companion/config.toml or the state in /var/lib.
set -eu

NAME=treadmill-companion
USER_NAME=treadmill-companion
ROOT=/
DRY_RUN=0
UNINSTALL=0
PURGE=0
START=1
SOURCE=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
    exit "$1"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=${2:?--root needs a folder}; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        --no-start) START=0; shift ;;
        --source) SOURCE=${2:?--source needs a folder}; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

ROOT=${ROOT%/}
OPT="$ROOT/opt/$NAME"
ETC="$ROOT/etc/$NAME"
STATE="$ROOT/var/lib/$NAME"
UNIT="$ROOT/etc/systemd/system/$NAME.service"
UDEV_RULES="$ROOT/etc/udev/rules.d/60-$NAME.rules"
MODULES_LOAD="$ROOT/etc/modules-load.d/$NAME.conf"
CREATED_GROUPS="$ETC/.created-groups"  # groups this script made (Debian), removed by --purge

say() { printf '%s\n' "install.sh: $*"; }

# System changes (users, packages, services) run for real, or are only printed with --dry-run.
run() {
    if [ "$DRY_RUN" -eq 1 ]; then
        printf 'would run:'
        printf ' %s' "$@"
        printf '\n'
    else
        "$@"
    fi
}

need_root() {
    if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
        echo "install.sh: run it with sudo (or --dry-run --root DIR to try it)" >&2
        exit 2
    fi
}

# Writes a file only if its content changed; says which.
put_file() { # source destination mode
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        say "unchanged $2"
        return
    fi
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
    chmod "$3" "$2"
    say "wrote $2"
}

# Writes standard input to a file, as put_file does (only if it changed, saying which).
put_text() { # destination mode
    cat > "$ETC/.put-text"
    put_file "$ETC/.put-text" "$1" "$2"
    rm -f "$ETC/.put-text"
}

uninstall() {
    need_root
    run systemctl disable --now "$NAME.service" || true
    # With the daemon stopped: this treadmill's retained MQTT topics (its Home Assistant
    # entities) off the broker, while the program is still there to do it.
    if [ -x "$OPT/venv/bin/$NAME" ] && [ -f "$ETC/config.toml" ]; then
        run env STATE_DIRECTORY="$STATE" "$OPT/venv/bin/$NAME" mqtt remove --config "$ETC/config.toml" \
            || say "could not remove the retained Home Assistant entities from the MQTT broker (see above)"
    fi
    rm -f "$UNIT"
    run systemctl daemon-reload
    rm -rf "$OPT"
    if [ -f "$UDEV_RULES" ]; then
        rm -f "$UDEV_RULES"
        run udevadm control --reload || true
    fi
    rm -f "$MODULES_LOAD"
    say "removed the service and $OPT"
    if [ "$PURGE" -eq 1 ]; then
        groups=$(cat "$CREATED_GROUPS" 2>/dev/null || true)
        rm -rf "$ETC" "$STATE"
        run userdel "$USER_NAME" || true
        for group in $groups; do
            run groupdel "$group" || true
        done
        say "removed $ETC, $STATE, the user $USER_NAME${groups:+ and the groups $groups}"
    else
        say "kept $ETC and $STATE (--purge removes them)"
    fi
}

enable_interfaces() {
    # I2C for the ADS1115 and ADXL345, the UART for the console link, no login console on it.
    # raspi-config's non-interactive mode does what its menus do (dtparam=i2c_arm=on,
    # enable_uart=1 in config.txt, console=serial0 out of cmdline.txt); a reboot applies it.
    if command -v raspi-config >/dev/null 2>&1; then
        run raspi-config nonint do_i2c 0
        run raspi-config nonint do_serial_hw 0
        run raspi-config nonint do_serial_cons 1
    else
        say "no raspi-config (not Raspberry Pi OS?): enable I2C and the UART yourself:"
        say "  /boot/firmware/config.txt: dtparam=i2c_arm=on and enable_uart=1; remove console=serial0,... from cmdline.txt"
    fi
}

make_user() {
    # Raspberry Pi OS has the gpio and i2c groups; plain Debian makes them here (and
    # --purge removes the ones made here). dialout is Debian's own.
    for group in gpio i2c dialout; do
        if ! getent group "$group" >/dev/null 2>&1; then
            run groupadd --system "$group"
            grep -qsx "$group" "$CREATED_GROUPS" || echo "$group" >> "$CREATED_GROUPS"
        fi
    done
    if ! getent passwd "$USER_NAME" >/dev/null 2>&1; then
        run useradd --system --home-dir "/var/lib/$NAME" --no-create-home --shell /usr/sbin/nologin \
            --user-group --groups gpio,i2c,dialout "$USER_NAME"
    else
        run usermod --append --groups gpio,i2c,dialout "$USER_NAME"
    fi
}

device_access() {
    # The gpio and i2c groups own /dev/gpiochip* and /dev/i2c-*: Raspberry Pi OS's own udev
    # rules (99-com.rules) do it; elsewhere this rule does the same.
    if grep -qs 'GROUP="gpio"' /usr/lib/udev/rules.d/*.rules /lib/udev/rules.d/*.rules \
        "$ROOT/etc/udev/rules.d/"*.rules 2>/dev/null && [ ! -f "$UDEV_RULES" ]; then
        say "the system's udev rules already give the gpio group its devices (Raspberry Pi OS)"
        return
    fi
    put_text "$UDEV_RULES" 0644 <<'RULES'
# Treadmill Companion (systemd/install.sh): what Raspberry Pi OS's 99-com.rules does, for
# other Debian systems. Removed by install.sh --uninstall.
KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
SUBSYSTEM=="i2c-dev", GROUP="i2c", MODE="0660"
RULES
    run udevadm control --reload || true
    run udevadm trigger --action=change --subsystem-match=gpio --subsystem-match=i2c-dev || true
    run udevadm settle --timeout=10 || true
}

load_modules() {
    # At every boot, before the service starts: i2c-dev for /dev/i2c-* (raspi-config does it on
    # Raspberry Pi OS), and the USB serial drivers, since systemd resolves the unit's
    # DeviceAllow=char-ttyACM/char-ttyUSB from /proc/devices when the service starts: without
    # the driver loaded then, a console plugged in later would be refused.
    put_text "$MODULES_LOAD" 0644 <<'MODULES'
# Treadmill Companion (systemd/install.sh); removed by install.sh --uninstall.
i2c-dev
cdc_acm
usbserial
MODULES
    run modprobe -a i2c-dev cdc_acm usbserial || say "could not load i2c-dev, cdc_acm or usbserial now (a reboot will)"
}

install_program() {
    mkdir -p "$OPT"
    if [ "$DRY_RUN" -eq 1 ]; then
        run python3 -m venv "$OPT/venv"
        run "$OPT/venv/bin/pip" install --no-compile --upgrade "${SOURCE}[pi]"
        run "$OPT/venv/bin/python" -m compileall -q -j 0 "$OPT/venv/lib"
        return
    fi
    if ! python3 -c 'import venv' >/dev/null 2>&1; then
        run apt-get install -y python3-venv
    fi
    [ -x "$OPT/venv/bin/python" ] || python3 -m venv "$OPT/venv"
    # Debian's own pip (23 on Bookworm) does the job; the bytecode is compiled afterwards
    # on every core at once (-j 0) rather than by pip one file after another.
    "$OPT/venv/bin/pip" install --quiet --no-compile --upgrade "${SOURCE}[pi]"
    "$OPT/venv/bin/python" -m compileall -q -j 0 "$OPT/venv/lib" >/dev/null \
        || say "some files did not compile to bytecode (harmless: Python compiles them when it needs them)"
    say "installed the program into $OPT/venv"
}

install() {
    need_root
    [ -f "$SOURCE/pyproject.toml" ] || { echo "install.sh: $SOURCE is not the project folder" >&2; exit 2; }
    enable_interfaces
    mkdir -p "$ETC"
    make_user
    device_access
    load_modules
    install_program
    mkdir -p "$ETC" "$STATE"
    if [ -f "$ETC/config.toml" ]; then
        say "kept $ETC/config.toml"
    else
        put_file "$SOURCE/pi_service/config/example.toml" "$ETC/config.toml" 0640
    fi
    run chown -R "root:$USER_NAME" "$ETC"
    run chown -R "$USER_NAME:$USER_NAME" "$STATE"
    chmod 0750 "$STATE"
    put_file "$SOURCE/systemd/$NAME.service" "$UNIT" 0644
    run systemctl daemon-reload
    if [ "$START" -eq 1 ]; then
        run systemctl enable "$NAME.service"
        run systemctl restart "$NAME.service"
    fi
    address=$(hostname -I 2>/dev/null | cut -d' ' -f1)
    say "the page: http://${address:-$(hostname).local}:8080/"
    say "pair a phone with the link below (run it again for another phone):"
    run env STATE_DIRECTORY="/var/lib/$NAME" "$OPT/venv/bin/$NAME" pair --config "/etc/$NAME/config.toml"
    run chown -R "$USER_NAME:$USER_NAME" "$STATE"
    say "check the wiring: sudo -u $USER_NAME env STATE_DIRECTORY=/var/lib/$NAME $OPT/venv/bin/$NAME doctor --config /etc/$NAME/config.toml"
    say "logs: journalctl -u $NAME -f"
}

if [ "$UNINSTALL" -eq 1 ]; then
    uninstall
else
    install
fi
