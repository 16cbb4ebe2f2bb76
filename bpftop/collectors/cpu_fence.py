"""Make every CPU switch tasks now, for collectors that take a baseline at a switch.

The pmc program reads a CPU's counters at each context switch and charges
the difference to the task leaving. After a resume (or a load) its old
readings are void, so the first switch on each CPU only takes a baseline,
and the running task's time up to that switch is lost: a CPU-bound task
alone on its CPU may not switch for seconds (a one-vCPU guest lost half of
a hog's task clock). Moving a thread onto each CPU in turn forces a switch
there at once.
"""

from __future__ import annotations

import os
import threading


def switch_every_cpu() -> None:
    """This thread visits each CPU it may run on; each then switches to it and back.

    ``sched_setaffinity`` returns once the caller runs on the new CPU, which
    takes a context switch there. CPUs outside the allowed set (a cpuset) are
    left alone. Milliseconds per CPU at most: run it off the UI thread.
    """
    allowed = os.sched_getaffinity(0)
    try:
        for cpu in sorted(allowed):
            os.sched_setaffinity(0, {cpu})
    except OSError:
        pass  # a CPU went offline meanwhile: the others are done
    finally:
        os.sched_setaffinity(0, allowed)


def switch_every_cpu_soon() -> threading.Thread:
    """``switch_every_cpu`` in a daemon thread of its own; the thread, for tests to join."""
    thread = threading.Thread(target=switch_every_cpu, name="bpftop-cpu-fence", daemon=True)
    thread.start()
    return thread
