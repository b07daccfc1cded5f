#!/bin/sh
# capture-keepalived.sh recreates keepalived-2.2.7.pcap: real adverts sent by
# keepalived 2.2.7 (the version this repository tests against), used by
# TestKeepalivedCaptures to check Decode field by field and Append byte for
# byte.
#
# Run as root from anywhere: sh control/advert/testdata/capture-keepalived.sh [out.pcap]
#
# It builds two throw-away network namespaces joined by a veth pair
# (198.18.0.1/24 + 2001:db8::1/64 on the keepalived side, .2 / ::2 on the
# peer side), starts keepalived with its pid files, logs and config in a
# temporary directory (nothing on the host is touched), records every IP
# protocol 112 frame that leaves veth0 for CAPTURE_SECONDS, stops keepalived
# (which sends its priority-0 resignation adverts, RFC 5798 section 6.4.3),
# and deletes the namespaces on every exit path.
#
# Instances (their expected fields are in keepalived_capture_test.go):
#   VRID 51  VRRPv2, auth PASS "secret", advert_int 1, two IPv4 VIPs
#   VRID 52  VRRPv2, no auth,            advert_int 2, one IPv4 VIP
#   VRID 53  VRRPv3 IPv4, advert_int 0.5 (50 cs), three VIPs
#   VRID 54  VRRPv3 IPv6, advert_int 1, two VIPs, from the link-local address
#   VRID 55  VRRPv3 IPv4 unicast to 198.18.0.2 (RFC checksum: pseudo-header
#            destination = the peer)
#   VRID 56  VRRPv3 IPv4 unicast with old_unicast_checksum (keepalived <= 1.3.6
#            checksum: pseudo-header destination = 224.0.0.18)
set -eu

out=${1:-$(cd "$(dirname "$0")" && pwd)/keepalived-2.2.7.pcap}
CAPTURE_SECONDS=${CAPTURE_SECONDS:-12}
suf=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
nsa=xvcapA$suf
nsb=xvcapB$suf
tmp=$(mktemp -d)
kpid=""
tpid=""

cleanup() {
	[ -n "$kpid" ] && kill "$kpid" 2>/dev/null || true
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null || true
	# Anything still inside the namespaces is ours.
	for ns in "$nsa" "$nsb"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$nsa"
ip netns add "$nsb"
ip link add "xvca$suf" type veth peer name "xvcb$suf"
ip link set "xvca$suf" netns "$nsa" name veth0
ip link set "xvcb$suf" netns "$nsb" name veth1
# Fixed MACs give a fixed EUI-64 link-local source for the IPv6 adverts.
ip -n "$nsa" link set veth0 address 02:00:c6:12:00:01
ip -n "$nsb" link set veth1 address 02:00:c6:12:00:02
ip -n "$nsa" addr add 198.18.0.1/24 dev veth0
ip -n "$nsb" addr add 198.18.0.2/24 dev veth1
ip -n "$nsa" addr add 2001:db8::1/64 dev veth0 nodad
ip -n "$nsb" addr add 2001:db8::2/64 dev veth1 nodad
for ns in "$nsa" "$nsb"; do ip -n "$ns" link set lo up; done
ip -n "$nsa" link set veth0 up
ip -n "$nsb" link set veth1 up

# keepalived needs the link-local address out of DAD before it can send IPv6.
i=0
until ip -n "$nsa" -6 addr show dev veth0 scope link -tentative | grep -q fe80::; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "no link-local address on veth0" >&2; exit 1; }
	sleep 0.1
done

cat >"$tmp/keepalived.conf" <<CONF
global_defs {
	router_id xvrrp-capture
	enable_script_security
}
vrrp_instance v2pass {
	state MASTER
	interface veth0
	version 2
	virtual_router_id 51
	priority 150
	advert_int 1
	authentication {
		auth_type PASS
		auth_pass secret
	}
	virtual_ipaddress {
		198.18.51.1/32
		198.18.51.2/32
	}
}
vrrp_instance v2none {
	state MASTER
	interface veth0
	version 2
	virtual_router_id 52
	priority 100
	advert_int 2
	virtual_ipaddress {
		198.18.52.1/32
	}
}
vrrp_instance v3ipv4 {
	state MASTER
	interface veth0
	version 3
	virtual_router_id 53
	priority 200
	advert_int 0.5
	virtual_ipaddress {
		198.18.53.1/32
		198.18.53.2/32
		198.18.53.3/32
	}
}
vrrp_instance v3ipv6 {
	state MASTER
	interface veth0
	version 3
	virtual_router_id 54
	priority 254
	advert_int 1
	virtual_ipaddress {
		2001:db8:54::1/128
		2001:db8:54::2/128
	}
}
vrrp_instance v3unicast {
	state MASTER
	interface veth0
	version 3
	virtual_router_id 55
	priority 120
	advert_int 1
	unicast_src_ip 198.18.0.1
	unicast_peer {
		198.18.0.2
	}
	virtual_ipaddress {
		198.18.55.1/32
	}
}
vrrp_instance v3unicastold {
	state MASTER
	interface veth0
	version 3
	virtual_router_id 56
	priority 110
	advert_int 1
	unicast_src_ip 198.18.0.1
	unicast_peer {
		198.18.0.2
	}
	old_unicast_checksum
	virtual_ipaddress {
		198.18.56.1/32
	}
}
CONF

ip netns exec "$nsa" tcpdump -i veth0 -Q out -U -w "$tmp/cap.pcap" 'ip proto 112 or ip6 proto 112' 2>"$tmp/tcpdump.log" &
tpid=$!
i=0
until grep -q "listening on" "$tmp/tcpdump.log"; do
	i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/tcpdump.log" >&2; exit 1; }
	sleep 0.1
done

ip netns exec "$nsa" /usr/sbin/keepalived -n -l -D -P --no-syslog \
	-f "$tmp/keepalived.conf" -p "$tmp/keepalived.pid" -r "$tmp/vrrp.pid" \
	>"$tmp/keepalived.log" 2>&1 &
kpid=$!
sleep "$CAPTURE_SECONDS"
kill -TERM "$kpid"
wait "$kpid" || true
kpid=""
sleep 1 # let the resignation adverts reach the capture
kill -INT "$tpid"
wait "$tpid" || true
tpid=""
cp "$tmp/cap.pcap" "$out"
echo "wrote $out" >&2
tcpdump -nn -r "$out" 2>/dev/null | awk '{print $3, $4, $5, $6, $7, $8, $9}' | sort | uniq -c >&2
