#!/usr/bin/env bash
# Installs, from Debian's packages, what building, testing, the demo and the
# benchmarks need, when it is missing. Idempotent and quiet when all is there.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang      || need+=(clang)
have llvm-strip || need+=(llvm)
[ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
have bpftool    || need+=(bpftool)
have ip         || need+=(iproute2)
have ping       || need+=(iputils-ping)
have iptables   || need+=(iptables)
have nft        || need+=(nftables)
have keepalived || need+=(keepalived)
# FRR's vrrpd: the second VRRP implementation of the interop tests.
[ -x /usr/lib/frr/vrrpd ] || need+=(frr)
have tcpdump    || need+=(tcpdump)
have ethtool    || need+=(ethtool)
have trafgen    || need+=(netsniff-ng)
# Packaging: the unit's check, its man pages, the .deb test, the image.
have systemd-analyze || need+=(systemd)
have man        || need+=(man-db)
have dpkg-deb   || need+=(dpkg)
have setpriv    || need+=(util-linux)
have podman     || need+=(podman)
have buildah    || need+=(buildah)
# podman on hosts with hybrid cgroups needs runc (crun refuses them).
have runc       || need+=(runc)
[ -e /usr/include/x86_64-linux-gnu/asm/types.h ] || [ -e /usr/include/asm/types.h ] || need+=(linux-libc-dev)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing ${need[*]}; run as root: sudo $0" >&2
		exit 1
	fi
	echo "install-deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# keepalived's package enables a service; the project only ever runs it by
# hand inside test namespaces, never on the host.
# So does FRR's (zebra on the host); the tests run its daemons by hand too.
for svc in keepalived frr; do
	if have systemctl && systemctl is-enabled "$svc" >/dev/null 2>&1; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
done

# bpffs: the loader mounts it itself when missing, but the demo and bpftool
# commands expect it.
if ! mountpoint -q /sys/fs/bpf 2>/dev/null && [ "$(id -u)" -eq 0 ]; then
	mount -t bpf bpf /sys/fs/bpf || true
fi
