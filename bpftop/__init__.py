"""bpftop: a top-like terminal dashboard for Linux performance, powered by eBPF."""

__version__ = "0.1.0"
