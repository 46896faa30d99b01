#!/bin/sh
# Builds the lab's guest image offline from Debian 12 packages (see vm-images/README.md).
#
# Why a shell script: every step is a Debian tool (debootstrap, chroot, mkfs.ext4, qemu-img)
# and the script is the recipe: `provision::lab::image` embeds this file and keys its cache by
# a hash of it plus the layer list, so any change here builds a new image, and an unchanged
# recipe reuses the cached one.
#
# Usage: build.sh OUT_DIR [LAYER...]
#   LAYER is one of: base (always included), ha (etcd-server, haproxy, keepalived, containerd,
#   chrony), ceph (ceph-mon, ceph-osd, ceph-mgr, ceph-common).
# Env:   SPOFLESS_DEBIAN_MIRROR (default http://deb.debian.org/debian)
# Output in OUT_DIR: base.qcow2 (ext4 labelled "root", no partition table), vmlinuz,
#   initrd.img, manifest.env (layers, sizes, build seconds). Written atomically: the
#   caller builds into a temporary directory and renames it.
set -eu

OUT=${1:?usage: build.sh OUT_DIR [LAYER...]}
shift
LAYERS="base $*"
MIRROR=${SPOFLESS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

# Layer contents. `python3-cffi-backend` is listed because debootstrap does not resolve the
# virtual package cloud-init's dependencies need (python3-cffi-backend-api-min).
PKG_base="linux-image-amd64,systemd-sysv,udev,kmod,dbus,openssh-server,cloud-init,\
python3-cffi-backend,ifupdown,iproute2,iputils-ping,netbase,procps,ca-certificates,nftables"
PKG_ha="etcd-server,etcd-client,haproxy,keepalived,containerd,chrony,curl"
PKG_ceph="ceph-mon,ceph-osd,ceph-mgr,ceph-common"

# Services the packages enable on install but the provisioner starts itself; not starting them
# at boot keeps the lab's boot short and leaves the hosts blank for `apply`.
DISABLE_base="apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
fstrim.timer man-db.timer dpkg-db-backup.timer systemd-timesyncd.service \
nftables.service"
DISABLE_ha="etcd.service haproxy.service keepalived.service containerd.service chrony.service"
# Ceph's dependencies enable boot-time jobs of their own (lvm2 and device-mapper monitoring,
# smartd probing every disk, NVMe-oF autoconnect, rbdmap, cron, logrotate) that a lab guest
# does not need at boot and TCG makes slow; the provisioner starts what Ceph needs.
DISABLE_ceph="ceph.target ceph-mon.target ceph-osd.target ceph-mgr.target ceph-crash.service \
ceph-mds.target ceph-fuse.target lvm2-monitor.service lvm2-lvmpolld.socket dm-event.socket \
blk-availability.service smartmontools.service rbdmap.service nvmefc-boot-connections.service \
nvmf-autoconnect.service uuidd.socket cron.service logrotate.timer"

include=""
disable=""
for layer in $LAYERS; do
    case $layer in
    base) include="$include,$PKG_base"; disable="$disable $DISABLE_base" ;;
    ha) include="$include,$PKG_ha"; disable="$disable $DISABLE_ha" ;;
    ceph) include="$include,$PKG_ceph"; disable="$disable $DISABLE_ceph" ;;
    *) echo "build.sh: unknown layer '$layer' (base, ha, ceph)" >&2; exit 2 ;;
    esac
done
include=${include#,}

for tool in debootstrap mkfs.ext4 qemu-img chroot; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "build.sh: '$tool' not found; install it with .ci/lab-packages.sh" >&2
        exit 3
    }
done

start=$(date +%s)
mkdir -p "$OUT"
ROOT="$OUT/rootfs"
rm -rf "$ROOT"
cleanup() { rm -rf "$ROOT"; }
trap cleanup EXIT

echo "build.sh: debootstrap $SUITE minbase, layers:$LAYERS" >&2
debootstrap --variant=minbase --include="$include" "$SUITE" "$ROOT" "$MIRROR" >&2
boot_done=$(date +%s)

# --- trim and configure -------------------------------------------------------------------
for unit in $disable; do
    chroot "$ROOT" systemctl disable "$unit" >/dev/null 2>&1 || true
    chroot "$ROOT" systemctl mask "$unit" >/dev/null 2>&1 || true
done
# A getty on the serial console only; no waiting for a network that is static.
chroot "$ROOT" systemctl mask getty@tty1.service >/dev/null 2>&1 || true
# Early-boot units a lab guest never uses (binfmt_misc, debugfs/tracefs, hugepages, fuse's
# control fs, the DRM module with no display): each is CPU time that five TCG guests on two
# cores take from each other while they boot.
for unit in systemd-binfmt.service proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount \
    sys-kernel-tracing.mount dev-hugepages.mount sys-fs-fuse-connections.mount \
    modprobe@drm.service modprobe@configfs.service modprobe@efi_pstore.service \
    systemd-update-utmp.service systemd-update-utmp-runlevel.service; do
    chroot "$ROOT" systemctl mask "$unit" >/dev/null 2>&1 || true
done

# A small initrd: the lab boots only from a virtio disk with ext4 on it, so the initrd needs
# just those drivers. Debian's default (MODULES=most) put 763 modules in a 39 MB initrd, which
# every guest decompresses and unpacks under TCG before its root is mounted.
sed -i 's/^MODULES=.*/MODULES=list/' "$ROOT/etc/initramfs-tools/initramfs.conf"
cat >>"$ROOT/etc/initramfs-tools/modules" <<'EOF'
virtio_pci
virtio_blk
ext4
crc32c_generic
EOF
chroot "$ROOT" update-initramfs -u -k all >&2

cat >"$ROOT/etc/fstab" <<'EOF'
LABEL=root / ext4 rw,noatime,errors=remount-ro 0 1
EOF

# Each guest gets its own machine id on first boot; cloud-init writes the pinned host key,
# so no key generated at build time may survive in the image.
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id" "$ROOT"/etc/ssh/ssh_host_*
printf 'lab\n' >"$ROOT/etc/hostname"

# Interfaces come from cloud-init's network config (rendered to ifupdown); loopback only here.
cat >"$ROOT/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback
source /etc/network/interfaces.d/*
EOF

# cloud-init: NoCloud only (no probing of cloud metadata services), and only the modules the
# lab's seed uses (hostname, /etc/hosts, root's key, the pinned host key).
cat >"$ROOT/etc/cloud/cloud.cfg.d/90-spofless-lab.cfg" <<'EOF'
datasource_list: [NoCloud, None]
cloud_init_modules: [set_hostname, update_hostname, update_etc_hosts, users_groups, ssh]
cloud_config_modules: []
cloud_final_modules: []
EOF
# One cloud-init stage instead of four: each is a Python start that costs 10-35 s under TCG
# with five guests on two cores (measured: init-local 41 s, init 15 s, config 20 s, final 4 s
# of one guest's boot). The lab's seed says `dsmode: local` (provision::lab::seed), so
# cloud-init-local.service, which runs before networking and before sysinit.target, finds the
# seed, writes the network config and also runs the init modules above, the host key
# included. The network stage would then only exit, and config/final have no modules left,
# so the three are masked; sshd (after sysinit.target) still starts only once the pinned host
# key is written. The drop-in states that ordering explicitly.
for unit in cloud-init.service cloud-config.service cloud-final.service; do
    chroot "$ROOT" systemctl mask "$unit" >/dev/null 2>&1
done
# cloud-init's entry script (setuptools' EASY-INSTALL-ENTRY-SCRIPT) looks its entry point up
# through importlib.metadata, which scans every installed distribution's metadata before
# cloud-init starts; the drop-in calls the same function directly.
mkdir -p "$ROOT/etc/systemd/system/cloud-init-local.service.d"
cat >"$ROOT/etc/systemd/system/cloud-init-local.service.d/90-spofless-lab.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/usr/bin/python3 -c "import sys; from cloudinit.cmd.main import main; sys.exit(main())" init --local
EOF
# cloud-init's systemd generator runs ds-identify, a 1900-line shell script that probes DMI,
# block devices and the kernel command line on every boot, before systemd starts any unit, to
# decide whether cloud-init runs and with which datasources. A lab guest always runs it with
# NoCloud, so the generator is masked and cloud-init.target enabled as the generator would.
mkdir -p "$ROOT/etc/systemd/system-generators" "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /dev/null "$ROOT/etc/systemd/system-generators/cloud-init-generator"
ln -sf /lib/systemd/system/cloud-init.target \
    "$ROOT/etc/systemd/system/multi-user.target.wants/cloud-init.target"
mkdir -p "$ROOT/etc/systemd/system/ssh.service.d"
cat >"$ROOT/etc/systemd/system/ssh.service.d/90-spofless-lab.conf" <<'EOF'
[Unit]
After=cloud-init-local.service
EOF

# sshd: keys only, no DNS lookups of clients (a lookup with no resolver stalls logins).
cat >"$ROOT/etc/ssh/sshd_config.d/90-spofless-lab.conf" <<'EOF'
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF

# systemd: shorter timeouts so a crash drill's reboot is not held up by a stuck unit.
mkdir -p "$ROOT/etc/systemd/system.conf.d"
cat >"$ROOT/etc/systemd/system.conf.d/90-spofless-lab.conf" <<'EOF'
[Manager]
DefaultTimeoutStartSec=30s
DefaultTimeoutStopSec=10s
EOF

# Drop what a lab guest never reads.
rm -rf "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
    "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

# --- kernel, initrd and disk ----------------------------------------------------------------
cp "$ROOT"/boot/vmlinuz-* "$OUT/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$OUT/initrd.img"
rootfs_bytes=$(du -sb "$ROOT" | cut -f1)
# Room for the provisioner's packages' data: the rootfs plus 2 GiB, rounded to MiB.
size_mib=$(( rootfs_bytes / 1048576 + 2048 ))
rm -f "$OUT/root.raw"
mkfs.ext4 -q -F -L root -d "$ROOT" "$OUT/root.raw" "${size_mib}M" >&2
qemu-img convert -O qcow2 "$OUT/root.raw" "$OUT/base.qcow2"
rm -f "$OUT/root.raw"
end=$(date +%s)

qcow_bytes=$(stat -c %s "$OUT/base.qcow2")
cat >"$OUT/manifest.env" <<EOF
LAYERS="$LAYERS"
ROOTFS_BYTES=$rootfs_bytes
QCOW2_BYTES=$qcow_bytes
DEBOOTSTRAP_SECONDS=$(( boot_done - start ))
BUILD_SECONDS=$(( end - start ))
EOF
echo "build.sh: done in $(( end - start )) s, rootfs $(( rootfs_bytes / 1048576 )) MiB, qcow2 $(( qcow_bytes / 1048576 )) MiB" >&2
