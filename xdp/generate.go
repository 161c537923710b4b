package xdp

// The XDP program is compiled by bpf2go; `make generate` sets BPF_CLANG and BPF_CFLAGS
// (Debian's clang needs -I/usr/include/x86_64-linux-gnu). The generated
// flowsieve_bpfel.go and flowsieve_bpfel.o are committed; `make check-generate` fails
// when they are stale.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc $BPF_CLANG -cflags "$BPF_CFLAGS" -target bpfel -type fs_flow_key -type fs_flow4_key -type fs_verdict -type fs_lpm_v4_key -type fs_lpm_v6_key -type fs_iface -type fs_counters -type fs_cache4_slot -type fs_sig_node -type fs_sig -type fs_sig_ref -type fs_bucket flowsieve bpf/flowsieve.c
