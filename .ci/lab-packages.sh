#!/bin/sh
# Installs the Debian 12 packages the VM lab (`spofless lab`, provision's `libvirt` feature and
# the lab tests) needs.
#
# Why backports: some machines carry qemu-utils 10.0 from bookworm-backports, whose package
# declares "Breaks: qemu-system-common (< 8.0)", so bookworm's own qemu-system-x86 7.2 cannot be
# installed next to it. Rather than downgrading a package someone else chose, we add the
# bookworm-backports suite (signed by the same Debian archive key) and take qemu-system-x86,
# qemu-system-common, qemu-system-data and qemu-utils from it together, so the QEMU pieces
# always come from one release. On a machine without backported QEMU this installs QEMU 10.0 from
# backports as well, which keeps CI and workstations on the same version.
#
# Usage: .ci/lab-packages.sh          install everything
#        .ci/lab-packages.sh --list   print the package list and exit
set -eu

# Packages from bookworm proper. libxml2-utils provides xmllint, which virt-xml-validate runs.
BASE_PACKAGES="
libvirt-daemon-system
libvirt-daemon-driver-qemu
libvirt-clients
libxml2-utils
libvirt-dev
pkg-config
dnsmasq-base
debootstrap
cloud-image-utils
genisoimage
cloud-init
openssh-server
openssh-client
iproute2
nftables
e2fsprogs
"

# Packages taken from bookworm-backports so QEMU's pieces share one version.
BACKPORTS_PACKAGES="
qemu-system-x86
qemu-system-common
qemu-system-data
qemu-utils
qemu-block-extra
"

if [ "${1:-}" = "--list" ]; then
    for p in $BASE_PACKAGES; do echo "$p"; done
    for p in $BACKPORTS_PACKAGES; do echo "$p (bookworm-backports)"; done
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "lab-packages: adding the bookworm-backports apt source ($BACKPORTS_LIST)"
    $SUDO tee "$BACKPORTS_LIST" >/dev/null <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package lists is intended
$SUDO apt-get install -y -q --no-install-recommends $BASE_PACKAGES
# `-t bookworm-backports` makes apt take QEMU's dependencies (seabios, ipxe ROMs) from
# backports too where backports has a newer one; QEMU 10 needs seabios >= 1.16.3.
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports $BACKPORTS_PACKAGES

echo "lab-packages: installed versions"
dpkg-query -W -f '  ${Package} ${Version}\n' qemu-system-x86 qemu-utils libvirt-daemon-system \
    debootstrap cloud-init openssh-server
