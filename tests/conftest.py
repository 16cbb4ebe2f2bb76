"""Shared test setup: make ``bpftop`` importable, gate ``@pytest.mark.bpf`` tests, scale time.

A test marked ``bpf`` needs root and a kernel that loads bpftop's programs.
Each test is gated on what it uses, probed once per session: the collectors
named by the marker (``@pytest.mark.bpf("syscalls", "biolat")``), else the
one its file is named after (``test_biolat_bpf.py``), else that a BPF
program loads at all. So an object one kernel rejects fails (or skips) its
own tests only. A gate that fails skips the test with the reason, or fails
it when ``BPFTOP_REQUIRE_BPF=1`` (CI sets it, so a broken loader cannot hide
behind skips).

``BPFTOP_TEST_TIME_SCALE`` (see ``time_scale``) stretches deadlines on slow machines.
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


def time_scale() -> float:
    """How many times slower than the host this machine runs the tests (1 unless told).

    ``scripts/test_kernels.py`` sets ``BPFTOP_TEST_TIME_SCALE`` in its guests:
    qemu without KVM emulates the CPU, about 10x slower. Deadlines for events
    and time bounds that are product promises ("exits within 2 s") are
    multiplied by it, so on the host every bound stays as written.
    """
    try:
        return max(1.0, float(os.environ.get("BPFTOP_TEST_TIME_SCALE", "1")))
    except ValueError:
        return 1.0


def scaled(seconds: float) -> float:
    """``seconds`` on the host, ``seconds * time_scale()`` on a slow machine."""
    return seconds * time_scale()


def require_cpus(count: int) -> None:
    """Skip unless the machine has ``count`` CPUs, even with ``BPFTOP_REQUIRE_BPF=1``.

    A missing CPU is the machine's shape (a 1-vCPU guest), not a BPF failure,
    so unlike ``skip_or_fail`` this never fails.
    """
    have = len(os.sched_getaffinity(0))  # the CPUs this test may pin to
    if have < count:
        pytest.skip(f"needs {count} CPUs, this test may use {have} (not a BPF failure)")


def _probe_collector(name: str) -> str:
    """Return why collector ``name`` cannot open here, or an empty string."""
    from bpftop.collectors.base import Filters
    from bpftop.engine import COLLECTORS

    collector = COLLECTORS[name]()
    try:
        collector.open(Filters())
    except Exception as exc:  # any failure is the reason to report
        return f"cannot open the {name} collector: {type(exc).__name__}: {exc}"
    finally:
        collector.close()
    return ""


def _probe_any_bpf() -> str:
    """Return why no BPF program loads here, or an empty string."""
    from bpftop.bpf.probe import bpf_loads

    ok, why = bpf_loads()
    return "" if ok else why


def gated_collectors(item: pytest.Item) -> tuple[str, ...]:
    """The collectors a ``bpf`` test needs: the marker's arguments, else its file's stem."""
    from bpftop.engine import COLLECTORS

    marker = item.get_closest_marker("bpf")
    if marker is not None and marker.args:
        unknown = set(marker.args) - set(COLLECTORS)
        assert not unknown, f"@pytest.mark.bpf names no collector {sorted(unknown)}"
        return tuple(marker.args)
    words = item.path.stem.split("_")  # test_<collector>_bpf.py
    return (words[1],) if len(words) > 2 and words[1] in COLLECTORS else ()


@pytest.fixture(scope="session")
def bpf_problems() -> dict[str, str]:
    """Why each probed gate failed (empty when it passed); filled once per gate per session."""
    return {}


def bpf_problem(problems: dict[str, str], collectors: tuple[str, ...]) -> str:
    """Why a test needing ``collectors`` (none: any BPF) cannot run; empty when it can."""
    if os.geteuid() != 0:
        return "BPF tests need root"
    for gate in collectors or ("",):
        if gate not in problems:
            problems[gate] = _probe_collector(gate) if gate else _probe_any_bpf()
        if problems[gate]:
            return problems[gate]
    return ""


@pytest.fixture(autouse=True)
def _bpf_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("bpf") is None:
        return
    problem = bpf_problem(request.getfixturevalue("bpf_problems"), gated_collectors(request.node))
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
