"""Realistic synthetic frames of a busy machine, for the recording benchmarks.

300 processes, each with about ten (process, syscall) pairs in the kernel's
map; every second about a third of the pairs move (Poisson counts, noisy
latencies), histograms of ~80 syscalls fill, a few calls fail, and a process
exits and another starts every few seconds. Seeded: the same frames each run.
"""

from __future__ import annotations

import random
from dataclasses import replace

from bpftop.collectors.syscalls import HIST_SLOTS, ProcSyscall, SyscallErrno, SyscallsSample, SyscallTotals
from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta

HOST = HostInfo(hostname="busy-db-01", kernel="6.8.0-45-generic", machine="x86_64", ncpu=32, boot_time=1.7e9)
STATUS = (CollectorStatus("syscalls", True, method="tp_btf"),)
NRS = [0, 1, 3, 7, 9, 10, 11, 13, 14, 17, 18, 20, 21, 23, 28, 39, 41, 42, 44, 45, 46, 47, 56, 61, 62, 72]
NRS += [89, 96, 102, 186, 202, 217, 228, 230, 232, 257, 262, 270, 271, 281, 288, 302, 318, 334, 435]
COMMANDS = ["postgres", "nginx", "java", "python3", "node", "redis-server", "sshd", "systemd-journal"]


class BusyMachine:
    """Frames of cumulative counters, one virtual second apart.

    Args:
        processes: processes alive at any time.
        pairs_per_process: distinct syscalls each one makes.
        active_share: share of pairs whose counters move in a second.
        seed: random seed.
    """

    def __init__(
        self, processes: int = 300, pairs_per_process: int = 10, active_share: float = 0.33, seed: int = 1
    ) -> None:
        self.rng = random.Random(seed)
        self.pairs_per_process = pairs_per_process
        self.active_share = active_share
        self.second = 0
        self.next_pid = 1000
        self.pairs: dict[tuple[int, int], list[int]] = {}  # calls, errors, total_ns, max_ns
        self.lat: dict[tuple[int, int], float] = {}
        self.metas: dict[int, ProcMeta] = {}
        self.comm: dict[int, str] = {}
        self.errnos: dict[tuple[int, int, int], int] = {}
        self.totals: dict[int, list[int]] = {}
        for _ in range(processes):
            self._spawn()

    def _spawn(self) -> None:
        pid = self.next_pid
        self.next_pid += self.rng.randint(1, 40)
        comm = self.rng.choice(COMMANDS)
        self.comm[pid] = comm
        args = " ".join(
            f"--opt{self.rng.randint(0, 99)}=/srv/{comm}/{self.rng.randint(0, 9999)}" for _ in range(3)
        )
        self.metas[pid] = ProcMeta(
            pid,
            1,
            self.rng.choice(["root", "postgres", "www-data"]),
            comm,
            f"/usr/bin/{comm} {args}",
            1.7e9 + self.second,
            False,
        )
        for nr in self.rng.sample(NRS, self.pairs_per_process):
            self.pairs[(pid, nr)] = [0, 0, 0, 0]
            self.lat[(pid, nr)] = 2 ** self.rng.uniform(8, 22)

    def _churn(self) -> None:
        for pid, meta in list(self.metas.items()):
            if meta.exited:
                del self.metas[pid], self.comm[pid]
                for key in [k for k in self.pairs if k[0] == pid]:
                    del self.pairs[key]
                for key in [k for k in self.errnos if k[0] == pid]:
                    del self.errnos[key]
        if self.second % 3 == 0:
            victim = self.rng.choice(list(self.metas))
            self.metas[victim] = replace(self.metas[victim], exited=True)
            self._spawn()

    def tick(self) -> Frame:
        """The next second."""
        self.second += 1
        self._churn()
        rng = self.rng
        for key, row in self.pairs.items():
            if self.metas[key[0]].exited or rng.random() > self.active_share:
                continue
            calls = 1 + int(rng.expovariate(1 / 40))
            lat = self.lat[key]
            total = int(calls * lat * rng.uniform(0.7, 1.3))
            row[0] += calls
            row[2] += total
            row[3] = max(row[3], int(lat * rng.uniform(1, 4)))
            hist = self.totals.setdefault(key[1], [0, 0, 0, 0] + [0] * HIST_SLOTS)
            hist[0] += calls
            hist[2] += total
            hist[3] = max(hist[3], row[3])
            slot = min(HIST_SLOTS - 1, int(lat).bit_length())
            hist[4 + slot] += calls - calls // 4
            hist[4 + max(0, slot - 1)] += calls // 4
            if rng.random() < 0.05:
                row[1] += 1
                hist[1] += 1
                ekey = (key[0], key[1], rng.choice([2, 11, 4]))
                self.errnos[ekey] = self.errnos.get(ekey, 0) + 1
        sample = SyscallsSample(
            ts_ns=self.second * 1_000_000_000 + rng.randint(0, 2_000_000),
            arch="x86_64",
            syscalls=tuple(SyscallTotals(nr, *r[:4], tuple(r[4:])) for nr, r in sorted(self.totals.items())),
            procs=tuple(ProcSyscall(*k, *r, self.comm[k[0]]) for k, r in self.pairs.items()),
            errnos=tuple(SyscallErrno(*k, n) for k, n in self.errnos.items()),
            unmatched_exits=12,
        )
        return Frame(
            ts_ns=sample.ts_ns,
            wall=1.75e9 + self.second,
            samples={"syscalls": sample},
            procs=dict(self.metas),
            status=STATUS,
            host=HOST,
            delay_s=1.0,
        )
