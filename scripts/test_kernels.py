#!/usr/bin/env python3
"""Run bpftop's BPF tests inside other kernels booted under qemu (`make test-kernels`).

Each kernel is booted with virtme-ng (``vng``) on this machine's own root
filesystem, read-only but for ``/tmp`` and a results directory, so the guest
runs this checkout with this venv, and nothing is built for it. Inside, as
root, it saves ``bpftop check`` and runs the ``bpf``-marked tests (each
collector's exactness tests and ``tests/test_kernel_smoke.py``: every
collector loads, ``-b --json`` counts a known workload exactly, each pane runs
alone, a recording replays) but those marked ``kernel_independent`` (the
terminal, signal and recording-format tests, which no kernel changes and
which cost minutes each under emulation: the host runs them).

The kernels are Debian 12's (``linux-image-amd64`` is 6.1, the security
suite's ``linux-image-6.12-amd64`` is 6.12, Debian 13's): their packages are
downloaded with ``apt-get download`` and unpacked under ``.kernels/``, never
installed, so ``/boot`` and the boot loader stay as they are; the guest gets
the modules through a read-only mount of their directory. `scripts/setup-dev.sh`
installs qemu, busybox and virtme-ng. Without KVM (this VM, CI) qemu emulates
the CPU (TCG, single-threaded: multi-threaded TCG panicked 6.12 while it
patched tracepoint text): a boot takes ~35 s and the tests ~10x longer than
on the host.

What each kernel's ``bpftop check`` says is kept in
``tests/fixtures/kernels/check-<major.minor>.txt``: a run fails when which
collectors load, or through which family, differs from it, and ``--update``
rewrites the fixtures (review the diff).

Exit status: 0 when every kernel booted, its tests passed and its check
matched the fixture; 1 otherwise; 2 when a kernel or vng is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "kernels"
# The kernels CI proves, by Debian 12's meta package that depends on the newest build.
KERNELS = {"6.1": "linux-image-amd64", "6.12": "linux-image-6.12-amd64"}
CACHE = REPO / ".kernels"
# qemu without KVM emulates the CPU, ~10x slower: bpftop's first frame takes ~60 s,
# a tick ~1.6 s. Deadlines and time bounds in the tests stretch by this.
TCG_TIME_SCALE = 10
# A collector's row in `bpftop check`: "collector NAME | yes | attached via FAMILY ..."
_ROW = re.compile(r"^[│|]\s*collector (\w+)\s*[│|]\s*(yes|no)\s*[│|]\s*(?:attached via (\S+?)[\s;(]|)")

GUEST = """
set -u
cd {repo}
export BPFTOP_REQUIRE_BPF=1 PYTHONDONTWRITEBYTECODE=1 NO_COLOR=1 COLUMNS=100
# How much slower than the host the tests run here (tests/conftest.py's time_scale).
export BPFTOP_TEST_TIME_SCALE={time_scale}
uname -r > {out}/release
# The guest starts with no modules loaded; biolat's tests need loop devices.
modprobe -q loop
nproc > {out}/nproc
{python} -m bpftop check > {out}/check.txt 2>&1
echo $? > {out}/check.rc
{python} -m pytest -m "bpf and not kernel_independent" -q -p no:cacheprovider -rfE {pytest_args} \
    > {out}/pytest.txt 2>&1
echo $? > {out}/pytest.rc
"""


@dataclass(frozen=True)
class Kernel:
    """An unpacked kernel package: its image and its modules directory."""

    image: Path
    modules: Path

    @property
    def release(self) -> str:
        """``uname -r`` of the kernel, e.g. ``6.1.0-57-amd64``."""
        return self.image.name.removeprefix("vmlinuz-")


def fetch(name: str) -> Kernel:
    """Download and unpack the newest Debian kernel package for ``name`` (once).

    Raises:
        SystemExit: apt knows no such package (not Debian 12), or the download failed.
    """
    meta = KERNELS[name]
    depends = subprocess.run(["apt-cache", "depends", meta], capture_output=True, text=True, check=False)
    package = next(
        (
            line.split()[1]
            for line in depends.stdout.splitlines()
            if line.strip().startswith("Depends: linux-image-")
        ),
        None,
    )
    if package is None:
        raise SystemExit(
            f"test_kernels: apt has no {meta} (Debian 12's kernel for {name}); run `apt-get update`"
        )
    dest = CACHE / package
    if not dest.is_dir():
        CACHE.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            # Root downloads into a directory apt's sandbox user may not reach: no warning for that.
            subprocess.run(
                ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package],
                cwd=tmp,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            deb = next(Path(tmp).glob("*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "root")], check=True)
            (Path(tmp) / "root").rename(dest)
    image = max(dest.glob("boot/vmlinuz-*"), key=lambda p: _version_key(p.name))
    release = image.name.removeprefix("vmlinuz-")
    modules = next(
        p for p in (dest / "lib/modules" / release, dest / "usr/lib/modules" / release) if p.is_dir()
    )
    return Kernel(image, modules)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name))


def collector_summary(check_text: str) -> list[str]:
    """``name yes family`` for each collector row of ``bpftop check``, in order."""
    rows = []
    for line in check_text.splitlines():
        m = _ROW.match(line.strip())
        if m:
            rows.append(" ".join(part for part in m.groups() if part))
    return rows


def boot(kernel: Kernel, out: Path, args: argparse.Namespace) -> int:
    """Boot ``kernel``, run the guest script, return vng's exit status."""
    script = GUEST.format(
        repo=shlex.quote(str(REPO)),
        out=shlex.quote(str(out)),
        python=shlex.quote(str(Path(sys.executable))),
        pytest_args=" ".join(shlex.quote(a) for a in args.pytest_args),
        time_scale=1 if args.kvm else TCG_TIME_SCALE,
    )
    (out / "guest.sh").write_text(script)
    vng = _vng()
    assert vng is not None  # main() checked
    cmd = [vng, "-r", str(kernel.image), "--cpus", str(args.cpus), "--memory", args.memory]
    # The guest's root is this machine's, which has no modules for this kernel.
    cmd += [f"--rodir=/lib/modules/{kernel.release}={kernel.modules}", f"--rwdir={out}"]
    if not args.kvm:
        # One host thread for all vCPUs: 6.12 panicked under multi-threaded TCG
        # ("Oops: int3" in ttwu_do_activate while a static key's text was being
        # patched; cross-modifying code races in the emulator), 6.1 did not.
        cmd += ["--disable-kvm", "--qemu-opts=-accel tcg,thread=single"]
    # --verbose: the kernel's console goes to console.txt, so a guest that dies
    # (a panic, the OOM killer) says why in the report.
    cmd += ["--verbose", "--exec", f"sh {shlex.quote(str(out / 'guest.sh'))}"]
    env = {**os.environ, "PATH": f"{Path(vng).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(out / "console.txt", "w") as console:
        try:
            return subprocess.run(
                cmd,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=args.timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            return 124


def run_kernel(name: str, kernel: Kernel, args: argparse.Namespace) -> tuple[bool, str]:
    """Boot one kernel; return whether everything passed, and the report to print."""
    report: list[str] = []
    say = report.append  # guests may run at once: each report prints whole, at its end
    out = Path(tempfile.mkdtemp(prefix=f"bpftop-kernel-{name}-"))
    started = time.monotonic()
    rc = boot(kernel, out, args)
    took = time.monotonic() - started
    release = _read(out / "release").strip() or "?"
    vcpus = _read(out / "nproc").strip() or "?"
    say(f"\n=== Linux {release} ({kernel.image.name}, {vcpus} vCPUs): {took:.0f} s")
    # The guest script's last step writes pytest.rc: that it exists says the
    # guest finished. vng's own status is no witness: virtme-ng 1.42 returned
    # 255 ("unexpected exit": the script's exit code did not come back over
    # its virtio serial port) for both Debian kernels while their consoles
    # said "script exited with code 0".
    if not (out / "pytest.rc").exists():
        say(f"the guest did not finish (vng exit {rc}); its console:\n{_read(out / 'console.txt')[-4000:]}")
        say(_read(out / "pytest.txt")[-4000:])
        return False, "\n".join(report)
    check_text = _read(out / "check.txt")
    fixture = FIXTURES / f"check-{name}.txt"
    got = collector_summary(check_text)
    ok = True
    if args.update:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        fixture.write_text(check_text)
        say(f"wrote {fixture.relative_to(REPO)}")
    elif not fixture.exists():
        say(f"no fixture {fixture.relative_to(REPO)}: run `make test-kernels ARGS=--update`")
        ok = False
    elif got != (want := collector_summary(fixture.read_text())):
        say(f"bpftop check differs from {fixture.relative_to(REPO)}:")
        say("  expected: " + "; ".join(want) + "\n  got:      " + "; ".join(got))
        say(check_text)
        ok = False
    say("bpftop check: " + "; ".join(got))
    pytest_text, pytest_rc = _read(out / "pytest.txt"), _read(out / "pytest.rc").strip()
    say((pytest_text[-6000:] if pytest_rc != "0" else pytest_text[-600:]).rstrip())
    shutil.rmtree(out, ignore_errors=True)
    return ok and pytest_rc == "0" and _pytest_passed(pytest_text), "\n".join(report)


def _vng() -> str | None:
    """virtme-ng's ``vng``, from this venv first (it is a PyPI package)."""
    return shutil.which("vng", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def _pytest_passed(text: str) -> bool:
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return " passed" in last and "failed" not in last and "error" not in last


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def main() -> int:
    """Entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", help=f"which of {', '.join(KERNELS)} (default: all)")
    parser.add_argument("--fetch", action="store_true", help="only download and unpack the kernels")
    parser.add_argument("--update", action="store_true", help="rewrite the `bpftop check` fixtures")
    parser.add_argument("--cpus", type=int, default=2, help="vCPUs per guest (2)")
    parser.add_argument("--memory", default="4G", help="guest memory (4G)")
    parser.add_argument("--jobs", type=int, default=1, help="kernels booted at once (1)")
    parser.add_argument("--kvm", action="store_true", help="use KVM (default: TCG, which works everywhere)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per kernel (3600)")
    parser.epilog = "Arguments after -- go to pytest, e.g. `6.1 -- tests/test_tcp_bpf.py -x`."
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.pytest_args = argv[split + 1 :]
    unknown = set(args.kernels) - set(KERNELS)
    if unknown:
        parser.error(f"unknown kernel {', '.join(sorted(unknown))}: choose from {', '.join(KERNELS)}")
    if os.geteuid() != 0:
        print("test_kernels: needs root (BPF inside the guest runs as the guest's root)", file=sys.stderr)
        return 2
    if _vng() is None:
        print("test_kernels: vng not found: scripts/setup-dev.sh installs virtme-ng", file=sys.stderr)
        return 2
    kernels = {name: fetch(name) for name in args.kernels or KERNELS}
    if args.fetch:
        print("\n".join(f"{name}: {k.image}" for name, k in kernels.items()))
        return 0
    results = {}
    # One at a time by default: on CI's two cores two 2-vCPU guests contend,
    # and the same 40 tests took 781 s beside another guest against 286 s alone.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_kernel, name, kernel, args): name for name, kernel in kernels.items()}
        for future in as_completed(futures):
            results[futures[future]], report = future.result()
            print(report, flush=True)
    print("\nkernels: " + ", ".join(f"{n} {'passed' if ok else 'FAILED'}" for n, ok in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
