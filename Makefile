# bpftop developer targets. `make test` is what CI runs (through .ci/run).
PY ?= .venv/bin/python

.PHONY: test setup lint build-bpf check-bpf syscall-tables bench

test: setup lint
	BPFTOP_REQUIRE_BPF=1 $(PY) -m pytest -q

setup:
	scripts/setup-dev.sh

lint:
	$(PY) -m ruff check bpftop scripts tests benchmarks
	$(PY) -m mypy

# Rebuild the shipped .bpf.o objects and the manifest (needs clang, llvm, libbpf-dev).
build-bpf:
	$(PY) scripts/build_bpf.py

check-bpf:
	$(PY) scripts/build_bpf.py --check

syscall-tables:
	$(PY) scripts/gen_syscall_tables.py

bench:
	$(PY) benchmarks/bench_syscalls.py
