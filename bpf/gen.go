// Package bpf holds xvrrp's XDP receive program (xvrrp.bpf.c) and the Go
// bindings bpf2go generates from it. The generated xvrrp_bpfel.go/.o are
// committed so that building xvrrp needs no clang; `make generate` rebuilds
// them and CI fails when they are stale. Types that cross into Go (event,
// instance key, policy, buckets, reasons) are declared once, in C, and
// exported with -type; the loader package is their only user.
package bpf

//go:generate go tool bpf2go -tags linux -target bpfel -cc clang -cflags "-O2 -g -Wall -Werror" -type xvrrp_reason -type xvrrp_stats -type xvrrp_family -type xvrrp_instance_key -type xvrrp_policy -type xvrrp_bucket -type xvrrp_src_bucket -type xvrrp_sources -type xvrrp_vrid -type xvrrp_event -type xvrrp_ring_ctl -type xvrrp_heard -type xdp_md Xvrrp xvrrp.bpf.c -- -I/usr/include/x86_64-linux-gnu
