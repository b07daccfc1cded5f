#!/bin/sh
# make bench: xvrrpd side by side with keepalived. Builds the
# benchmark and the flood generator next to bin/xvrrpd, then runs every
# scenario in namespaces it creates and deletes. Extra arguments go to
# xvrrp-bench (see `bin/xvrrp-bench -h`), e.g.
#   scripts/bench.sh -density-duration 20s -failover-reps 50
# XVRRP_BENCH_SMOKE=1 runs the ~10-second-per-cell smoke version CI uses.
set -eu
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/xvrrpd ./test/bench/cmd/xvrrp-bench ./test/bench/cmd/xvrrp-flood
if [ "${XVRRP_BENCH_SMOKE:-}" = 1 ]; then
	# One small cell of each scenario, results outside the repository.
	out=${XVRRP_BENCH_OUT:-$(mktemp -d /tmp/xvrrp-bench-smoke.XXXXXX)}
	exec bin/xvrrp-bench -out "$out" \
		-density-sizes 255 -density-intervals 100ms -density-duration 3s \
		-failover-intervals 10ms -failover-reps 3 \
		-flood-idle 2s -flood-duration 3s -vips-sizes 100 -vips-families mixed -vips-extra '' -scale-sizes 20 \
		-micro-benchtime 100x "$@"
fi
exec bin/xvrrp-bench "$@"
