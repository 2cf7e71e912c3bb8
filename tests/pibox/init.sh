#!/bin/busybox sh
# The Pi in a box's initramfs: the host's system, read-only over 9p, under a tmpfs overlay,
# then systemd as PID 1 on it. Built by tests/pibox/build.py; see docs/install.md.
#
# Shares (QEMU's virtio-9p, one per folder: the host's / as a whole would bring its /proc
# along and the overlay would detach the guest's own):
#   hostusr hostetc hostvar hostopt  the host's folders, read-only, each under an overlay
#   src                              the project as cloned, read-only, under an overlay
#   box                              .pibox/guest: modules, wheels, results (read-write)
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "pibox-init: $*" > /dev/console; }

while read -r module; do
    insmod "/mods/$module.ko" || say "insmod $module failed"
done < /modules.order

mount -t tmpfs -o size=1200m,mode=0755 root /newroot
cd /newroot || exit 1
mkdir -p proc sys dev run tmp root home mnt srv media .rw .lower pibox/src pibox/box
chmod 1777 tmp
ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64
cd /

overlay() { # 9p-tag mountpoint
    mkdir -p "/newroot/.lower/$1" "/newroot/.rw/$1/up" "/newroot/.rw/$1/work" "$2"
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose "$1" "/newroot/.lower/$1" \
        || say "9p share $1 failed"
    mount -t overlay overlay \
        -o "lowerdir=/newroot/.lower/$1,upperdir=/newroot/.rw/$1/up,workdir=/newroot/.rw/$1/work" "$2" \
        || say "overlay $2 failed"
}
for d in usr etc var opt; do overlay "host$d" "/newroot/$d"; done
overlay src /newroot/pibox/src
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 box /newroot/pibox/box || say "9p share box failed"

# A boot with nothing but sysinit and the checks: the host's own enabled services stay off.
UNITS=/newroot/etc/systemd/system
# (systemd-timesyncd too: no network here, and it takes 10 s to start under TCG; the
# companion's unit is ordered After=time-sync.target, which is reached either way.)
for unit in apparmor.service systemd-pstore.service systemd-timesyncd.service e2scrub_reap.service postgresql.service \
        avahi-daemon.service avahi-daemon.socket getty@tty1.service serial-getty@ttyS0.service \
        serial-getty@ttyS1.service; do
    ln -sf /dev/null "$UNITS/$unit"
done
cat > "$UNITS/pibox.target" <<'UNIT'
[Unit]
Description=Pi in a box: the checks
Requires=sysinit.target pibox.service
After=sysinit.target
AllowIsolate=yes
UNIT
cat > "$UNITS/pibox.service" <<'UNIT'
[Unit]
Description=Pi in a box: install the companion and check it on the guest's kernel and systemd
After=sysinit.target systemd-udevd.service
[Service]
Type=oneshot
Environment=PYTHONUNBUFFERED=1
ExecStart=/usr/bin/python3 /pibox/src/tests/pibox/guest_checks.py
StandardOutput=journal+console
StandardError=journal+console
ExecStopPost=/bin/systemctl --no-block poweroff
UNIT

say "root ready at $(cut -d' ' -f1 /proc/uptime) s"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /lib/systemd/systemd
