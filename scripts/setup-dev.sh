#!/bin/sh
# Install what bpftop's tests and benchmarks need on Debian/Ubuntu, then a venv
# in .venv with bpftop installed in editable mode. Idempotent; run as root.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# clang/llvm/libbpf-dev: rebuild the BPF objects from source (a test proves they compile)
# bpftool: reference output and leak checks; libbpf-tools: the peers we measure against
# htop, btop (and procps' top): the dashboards benchmarks/bench_vs_top.py measures bpftop against
# gcc: the tests' exact-count workloads; tmux: the real-terminal test
# iproute2, nftables: the tcp tests' namespaces, veth pair and induced loss
# g++, binutils (nm), util-linux (unshare): the symbolization tests' C++ and namespaced workloads
# qemu-system-x86, busybox-static, kmod: `make test-kernels` boots Debian's kernels with virtme-ng
#   (a PyPI package in the venv; it runs depmod on the kernel's modules, and a
#   minimal image may lack kmod); the kernels themselves are downloaded, not installed
apt-get install -y -q --no-install-recommends \
    libbpf1 libbpf-dev clang llvm bpftool libbpf-tools gcc libc6-dev tmux make iproute2 nftables \
    g++ binutils util-linux qemu-system-x86 busybox-static kmod htop btop procps \
    python3 python3-venv python3-pip >/dev/null
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
