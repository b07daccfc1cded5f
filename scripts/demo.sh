#!/usr/bin/env bash
# make demo: a three-host lab in network namespaces running xvrrpd from an
# ordinary keepalived.conf. Shows who is master, cuts the master's link and
# measures the failover, then installs the firewall rule that makes
# keepalived dual-master and shows xvrrpd keeping one master (and keepalived
# failing, for comparison). Everything is deleted on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (namespaces, XDP): run sudo make demo" >&2; exit 1; }

BIN=$PWD/bin
RUN=/run/xvrrp-demo
P=xvdemo$$            # namespace prefix, unique per run
VIP=198.18.0.100
HOSTS=(h1 h2 h3)
declare -A PRIO=([h1]=150 [h2]=120 [h3]=100)
PIDS=()

cleanup() {
	set +e
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	sleep 0.3
	for h in "${HOSTS[@]}"; do
		for pid in $(ip netns pids "$P-$h" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$P-$h" 2>/dev/null
	done
	ip netns del "$P-br" 2>/dev/null
	rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
holders() {
	local out=()
	for h in "${HOSTS[@]}"; do
		ip -n "$P-$h" -4 -br addr show dev eth0 | grep -q "$VIP/" && out+=("$h")
	done
	echo "${out[*]:-none}"
}
now_ms() { date +%s%3N; }

say "building the lab: bridge + 3 hosts in network namespaces (198.18.0.0/24)"
mkdir -p "$RUN"
ip netns add "$P-br"
ip -n "$P-br" link add br0 type bridge mcast_snooping 0
ip -n "$P-br" link set br0 up
i=0
for h in "${HOSTS[@]}"; do
	i=$((i + 1))
	ip netns add "$P-$h"
	ip link add "xv$$a$i" type veth peer name "xv$$b$i"
	ip link set "xv$$a$i" netns "$P-$h" name eth0
	ip link set "xv$$b$i" netns "$P-br" name "p$i"
	ip -n "$P-br" link set "p$i" master br0 up
	ip -n "$P-$h" link set lo up
	ip -n "$P-$h" link set eth0 up
	ip -n "$P-$h" addr add "198.18.0.1$i/24" dev eth0
	sed -e "s/@PRIO@/${PRIO[$h]}/" -e "s/@HOST@/$h/" scripts/demo/keepalived.conf.in > "$RUN/$h.conf"
done

start_xvrrpd() {
	local h=$1
	rm -f "$RUN/$h.ready"
	ip netns exec "$P-$h" "$BIN/xvrrpd" -f "$RUN/$h.conf" --pin-dir "/sys/fs/bpf/$P-$h" \
		--control-socket "$RUN/$h.sock" --pid-file "$RUN/$h.pid" --metrics-address "" \
		--ready-file "$RUN/$h.ready" >>"$RUN/$h.log" 2>&1 &
	PIDS+=($!); disown $!
	for _ in $(seq 100); do [ -e "$RUN/$h.ready" ] && return; sleep 0.1; done
	echo "xvrrpd on $h did not start:"; cat "$RUN/$h.log"; exit 1
}

say "starting xvrrpd on each host with an unchanged keepalived.conf (scripts/demo/keepalived.conf.in)"
for h in "${HOSTS[@]}"; do start_xvrrpd "$h"; done
for _ in $(seq 50); do [ "$(holders)" = h1 ] && break; sleep 0.1; done
for h in "${HOSTS[@]}"; do
	echo "--- xvrrpctl status on $h"
	"$BIN/xvrrpctl" --control-socket "$RUN/$h.sock" status
done
echo "VIP $VIP held by: $(holders)"

say "cutting h1's link (its bridge port goes down)"
ip -n "$P-h2" -ts monitor address > "$RUN/h2.monitor" 2>&1 &
MON=$!; PIDS+=($MON); disown $MON
sleep 0.3
cut=$(now_ms)
ip -n "$P-br" link set p1 down
for _ in $(seq 500); do [ "$(holders)" = h2 ] && break; sleep 0.01; done
took=$(( $(now_ms) - cut ))
kill $MON 2>/dev/null || true
echo "VIP $VIP now held by: $(holders), ${took} ms after the cut (polled every 10 ms)."
echo "h2 waits Master_Down_Interval = 3 × 100 ms + (256-120)/256 × 100 ms = 353 ms after the last advert it heard, which left h1 up to one advert interval (100 ms) before the cut."
grep -h "→" "$RUN/h2.log" | tail -n 1 | sed 's/^/h2 log: /'
ip -n "$P-br" link set p1 up
for _ in $(seq 100); do [ "$(holders)" = h1 ] && break; sleep 0.05; done
echo "h1's link restored: it preempts back; VIP held by: $(holders)"

say "firewall on the backups: iptables -A INPUT -p 112 -j DROP (the rule that makes keepalived dual-master)"
for h in h2 h3; do ip netns exec "$P-$h" iptables -A INPUT -p 112 -j DROP; done
for s in 1 2 3 4 5; do sleep 1; echo "t+${s}s: VIP held by: $(holders)"; done
"$BIN/xvrrpctl" --control-socket "$RUN/h2.sock" status
echo "xvrrpd: the XDP program sees the adverts before netfilter, so h2 and h3 stay BACKUP."

if command -v keepalived >/dev/null; then
	say "the same firewall with keepalived 2.2.7 on the same hosts, for comparison"
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	PIDS=()
	sleep 1
	for h in "${HOSTS[@]}"; do
		ip netns exec "$P-$h" keepalived --vrrp --dont-fork --log-console --no-syslog -f "$RUN/$h.conf" \
			-p "$RUN/$h.kpid" -r "$RUN/$h.vpid" -c "$RUN/$h.cpid" >>"$RUN/$h.kalog" 2>&1 &
		PIDS+=($!); disown $!
	done
	for s in 1 2 3 4 5 6; do sleep 1; echo "t+${s}s: VIP held by: $(holders)"; done
	echo "keepalived: the backups' raw sockets sit behind netfilter, stop hearing h1 and take the VIP too."
fi
say "tearing the lab down"
