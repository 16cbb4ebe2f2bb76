"""Shared test setup: make ``bpftop`` importable and gate ``@pytest.mark.bpf`` tests.

A test marked ``bpf`` needs root and a kernel that loads bpftop's programs.
The first such test probes once per session (open and close the syscalls
object); when that is impossible the marked tests skip with the reason, or
fail with it when ``BPFTOP_REQUIRE_BPF=1`` (CI sets it, so a broken loader
cannot hide behind skips).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

try:
    import bpftop  # noqa: F401 - installed with `pip install -e .`
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(REPO))
if str(TESTS) not in sys.path:  # `import workloads` from the test modules
    sys.path.insert(0, str(TESTS))

# A shell starts background jobs (`nohup make test &`) with SIGINT ignored, and
# children inherit that through exec: `bpftop -b` then rightly ignores SIGINT,
# and the tests of what Ctrl-C does would wait forever. A Python handler here
# is reset to the default at exec, so every child takes SIGINT again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def require_bpf() -> bool:
    """True when BPF tests must run (CI): a missing capability is a failure."""
    return os.environ.get("BPFTOP_REQUIRE_BPF") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the current test, or fail it when ``BPFTOP_REQUIRE_BPF=1``."""
    if require_bpf():
        pytest.fail(f"BPFTOP_REQUIRE_BPF=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _probe_bpf() -> str:
    """Return why bpftop's BPF cannot run here, or an empty string."""
    if os.geteuid() != 0:
        return "BPF tests need root"
    try:
        from bpftop.bpf.object import BpfObject

        obj = BpfObject.open("syscalls")
    except Exception as exc:  # any failure is the reason to report
        return f"cannot load the syscalls BPF object: {type(exc).__name__}: {exc}"
    obj.close()
    return ""


@pytest.fixture(scope="session")
def bpf_problem() -> str:
    """Why BPF tests cannot run (empty when they can); probed once per session."""
    return _probe_bpf()


@pytest.fixture(autouse=True)
def _bpf_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("bpf") is None:
        return
    problem = request.getfixturevalue("bpf_problem")
    if problem:
        skip_or_fail(problem)


@pytest.fixture(scope="session")
def workload_exe() -> Path:
    """The compiled syscall workload (``tests/workloads.py``)."""
    import workloads

    try:
        return workloads.build()
    except RuntimeError as exc:
        skip_or_fail(str(exc))
        raise  # unreachable: skip_or_fail raises
