# bpftop developer targets. `scripts/setup-dev.sh && make test` is what CI runs
# (through .ci/run) and what the README tells a fresh machine to run.
PY ?= .venv/bin/python

.PHONY: test test-kernels setup lint build-bpf check-bpf kernel-reqs syscall-tables bench snapshots

# BPF tests fail instead of skipping when BPF cannot load (BPFTOP_REQUIRE_BPF=1).
test: lint
	BPFTOP_REQUIRE_BPF=1 $(PY) -m pytest -q

# The BPF tests inside Debian's 6.1 and 6.12 kernels, booted under qemu with
# this machine's root filesystem (scripts/test_kernels.py). ARGS: e.g. `6.1`,
# `--update` (rewrite tests/fixtures/kernels/), `6.12 -- tests/test_tcp_bpf.py`.
test-kernels:
	$(PY) scripts/test_kernels.py $(ARGS)

setup:
	scripts/setup-dev.sh

lint:
	$(PY) -m ruff check bpftop scripts tests benchmarks
	$(PY) -m mypy

# Rebuild the shipped .bpf.o objects and the manifest (needs clang, llvm, libbpf-dev),
# then the minimum kernel of each object (bpftop/c/kernels.json, docs/architecture.md).
build-bpf:
	$(PY) scripts/build_bpf.py
	$(PY) scripts/kernel_reqs.py

check-bpf:
	$(PY) scripts/build_bpf.py --check
	$(PY) scripts/kernel_reqs.py --check

# Recompute the minimum Linux per collector and family from the committed objects.
kernel-reqs:
	$(PY) scripts/kernel_reqs.py

syscall-tables:
	$(PY) scripts/gen_syscall_tables.py

# Rewrite the golden screens in tests/snapshots/ after an intended UI change; review `git diff`.
snapshots:
	BPFTOP_UPDATE_SNAPSHOTS=1 $(PY) -m pytest -q tests/test_snapshots.py

bench:
	$(PY) benchmarks/bench_syscalls.py
	$(PY) benchmarks/bench_tcp.py
	$(PY) benchmarks/bench_record.py
	$(PY) benchmarks/bench_vs_top.py
	$(PY) benchmarks/bench_first_frame.py
	$(PY) benchmarks/bench_json.py
	$(PY) benchmarks/bench_bpfstats.py
	$(PY) benchmarks/bench_symbols.py
	$(PY) benchmarks/bench_stacks.py
	$(PY) benchmarks/bench_tty_bytes.py
	$(PY) benchmarks/bench_switch.py
