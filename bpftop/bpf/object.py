"""Open, configure, load and attach a packaged BPF object, with attach fallbacks.

A bpftop object carries each hook in up to three *families*, told apart by
their section: ``tp_btf/`` (BTF-typed raw tracepoint, cheapest, needs kernel
BTF), ``raw_tp/`` (raw tracepoint, any kernel >= 4.17) and ``tracepoint/``
(classic tracepoint, needs tracefs). One load keeps one family; when a family
fails to load or attach, the object is reopened with the next one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bpftop.bpf import log
from bpftop.bpf._ffi import ffi, lib
from bpftop.bpf.btf import datasec_offsets, has_btf_tracepoint, has_vmlinux_btf
from bpftop.bpf.errors import AttachError, BpfError
from bpftop.bpf.maps import BpfMap
from bpftop.bpf.tracefs import ensure_tracefs, tracepoint_exists
from bpftop.bpf.verifier import VerifierLog

logger = logging.getLogger(__name__)

METHODS = ("tp_btf", "raw_tp", "tracepoint")
# struct bpf_prog_info (uapi): its size up to attach_btf_id, and where the
# count of runs skipped because the program was already running on that CPU
# sits (Linux >= 5.12; older kernels return a shorter struct).
PROG_INFO_SIZE = 232
RECURSION_MISSES_OFFSET = 208
OBJ_DIR = Path(__file__).resolve().parent.parent / "c"
# set_global rewrites a whole section: two collectors sharing an object (runqlat
# and pmc share sched.bpf.o) must not interleave their read-modify-writes.
_globals_lock = threading.Lock()


def family_of(section: str) -> str | None:
    """Return the attach family of a section name, None for other program types."""
    prefix = section.split("/", 1)[0]
    return prefix if prefix in METHODS else None


def object_path(name: str) -> Path:
    """Path of a packaged object, e.g. ``syscalls`` -> ``.../c/syscalls.bpf.o``."""
    return OBJ_DIR / f"{name}.bpf.o"


class BpfObject:
    """A loaded and attached BPF object; close it (or use ``with``) to detach.

    Nothing is pinned: every program and link lives on file descriptors, so the
    kernel also removes them when the process dies by a signal it cannot catch.

    Attributes:
        name: object stem, e.g. ``syscalls``.
        method: the attach family that worked.
        tried: reasons the earlier families failed, by family.
        skipped: optional hooks this kernel lacks, left unattached.
    """

    def __init__(self, name: str, obj: Any, method: str, tried: dict[str, str]) -> None:
        self.name = name
        self.method = method
        self.tried = tried
        self._obj = obj
        self.skipped: list[str] = []
        self._links: list[tuple[str, Any]] = []  # (hook, link)
        self._maps: dict[str, BpfMap] = {}

    @classmethod
    def open(
        cls,
        name: str,
        rodata: dict[str, int] | None = None,
        methods: tuple[str, ...] = METHODS,
        path: Path | None = None,
        *,
        optional: tuple[str, ...] = (),
        leave_out: tuple[str, ...] = (),
    ) -> BpfObject:
        """Open, configure, load and attach ``name``, trying ``methods`` in order.

        Args:
            name: object stem; the file is ``bpftop/c/<name>.bpf.o`` unless ``path``.
            rodata: values for ``const volatile`` globals, set before load.
            methods: attach families to try, best first.
            path: explicit object file (tests).
            optional: hooks (tracepoint names) whose programs are left out when
                the kernel lacks them, instead of failing the family.
            leave_out: optional hooks to leave out even where the kernel has
                them, exactly as on a kernel without them (``skipped`` lists
                them): how tests run an older kernel's path on a newer one.

        Raises:
            AttachError: no family could load and attach; ``tried`` says why each failed.
            ValueError: ``leave_out`` names a hook that is not optional.
        """
        if not set(leave_out) <= set(optional):
            raise ValueError(f"only optional hooks can be left out: {sorted(set(leave_out) - set(optional))}")
        path = path or object_path(name)
        if not path.exists():
            raise BpfError(f"{path} is missing: reinstall bpftop or run `make build-bpf`", 2)
        tried: dict[str, str] = {}
        load_logs: tuple[VerifierLog, ...] = ()
        families = _families_in(path)
        for method in methods if families else ("",):
            if families and method not in families:
                continue
            try:
                return cls._attempt(
                    name, path, method, rodata or {}, tried, optional=optional, leave_out=leave_out
                )
            except (BpfError, OSError) as exc:
                tried[method or "load"] = str(exc)
                load_logs += getattr(exc, "load_logs", ())
                logger.info("%s: %s failed: %s", name, method, exc)
        raise AttachError(f"cannot load {name}", tried, load_logs)

    @classmethod
    def _attempt(
        cls,
        name: str,
        path: Path,
        method: str,
        rodata: dict[str, int],
        tried: dict[str, str],
        *,
        optional: tuple[str, ...] = (),
        leave_out: tuple[str, ...] = (),
    ) -> BpfObject:
        lib_ = lib()
        log.clear()
        obj = lib_.bpf_object__open_file(str(path).encode(), ffi.NULL)
        if obj == ffi.NULL:
            raise BpfError(f"open {path.name}", ffi.errno, log.take_recent())
        self = cls(name, obj, method, tried)
        try:
            self._select_family(method, optional, leave_out)
            set_rodata(obj, rodata, name)
            err = lib_.bpf_object__load(obj)
            if err:
                # The family is said by AttachError's "tried", which quotes this.
                raise BpfError(f"load {path.name}", err, log.take_recent(), log.take_load_logs())
            self._attach_all()
        except BaseException:
            self.close()
            raise
        return self

    def _programs(self) -> list[Any]:
        lib_ = lib()
        progs, prog = [], lib_.bpf_object__next_program(self._obj, ffi.NULL)
        while prog != ffi.NULL:
            progs.append(prog)
            prog = lib_.bpf_object__next_program(self._obj, prog)
        return progs

    def _select_family(self, method: str, optional: tuple[str, ...], leave_out: tuple[str, ...]) -> None:
        lib_ = lib()
        for prog in self._programs():
            section = ffi.string(lib_.bpf_program__section_name(prog)).decode()
            family = family_of(section)
            hook = section.split("/")[-1]
            if family is None:
                continue
            if family != method:
                lib_.bpf_program__set_autoload(prog, False)
            elif hook in leave_out or (hook in optional and not _hook_exists(section)):
                lib_.bpf_program__set_autoload(prog, False)
                self.skipped.append(hook)
            elif method == "tp_btf" and not has_btf_tracepoint(hook):
                raise BpfError(f"kernel BTF has no btf_trace_{hook}", 2)
            elif method == "tracepoint":
                ensure_tracefs()

    def _attach_all(self, hooks: Iterable[str] | None = None) -> None:
        lib_ = lib()
        wanted = None if hooks is None else set(hooks)
        attached = {hook for hook, _ in self._links}
        for prog in self._programs():
            if not lib_.bpf_program__autoload(prog):
                continue
            section = ffi.string(lib_.bpf_program__section_name(prog)).decode()
            # A perf_event program needs an event fd: attach_perf_event() does it.
            hook = section.split("/")[-1]
            if section.startswith("perf_event") or hook in attached:
                continue
            if wanted is not None and hook not in wanted:
                continue
            link = lib_.bpf_program__attach(prog)
            if link == ffi.NULL:
                prog_name = ffi.string(lib_.bpf_program__name(prog)).decode()
                raise BpfError(f"attach {prog_name}", ffi.errno, log.take_recent())
            self._links.append((hook, link))

    @property
    def attached(self) -> bool:
        """Whether any program is attached (``detach`` takes them off their hooks)."""
        return bool(self._links)

    def attached_to(self, hook: str) -> bool:
        """Whether the program on ``hook`` (``sys_enter``) is attached."""
        return any(h == hook for h, _ in self._links)

    def detach(self, hooks: Iterable[str] | None = None) -> None:
        """Take the programs on ``hooks`` (None: every one) off, keeping the object and its maps loaded.

        A detached program costs its hook nothing, not even a call: how a
        collector stops work nobody looks at (off-CPU stacks, syscall timing).
        """
        wanted = None if hooks is None else set(hooks)
        keep = []
        for hook, link in self._links:
            if wanted is None or hook in wanted:
                lib().bpf_link__destroy(link)
            else:
                keep.append((hook, link))
        self._links = keep

    def attach(self, hooks: Iterable[str] | None = None) -> None:
        """Attach the programs on ``hooks`` (None: every one) again after ``detach``.

        Programs attached already stay as they are; perf_event ones are not
        attached here. All or nothing: on failure, the ones it attached go.
        """
        if self._obj is None:
            return
        before = len(self._links)
        try:
            self._attach_all(hooks)
        except BaseException:
            for _, link in self._links[before:]:
                lib().bpf_link__destroy(link)
            del self._links[before:]
            raise

    def attach_perf_event(self, prog_name: str, fd: int) -> None:
        """Attach the SEC("perf_event") program ``prog_name`` to a perf event fd.

        The link is kept and destroyed by ``close()``; the fd stays the caller's.
        """
        lib_ = lib()
        for prog in self._programs():
            if ffi.string(lib_.bpf_program__name(prog)).decode() == prog_name:
                link = lib_.bpf_program__attach_perf_event(prog, fd)
                if link == ffi.NULL:
                    raise BpfError(f"attach {prog_name} to perf event", ffi.errno, log.take_recent())
                self._links.append((prog_name, link))
                return
        raise BpfError(f"{self.name}: no program {prog_name!r}")

    def map(self, name: str) -> BpfMap:
        """Return the map called ``name`` (cached)."""
        if name not in self._maps:
            m = lib().bpf_object__find_map_by_name(self._obj, name.encode())
            if m == ffi.NULL:
                raise BpfError(f"{self.name}: no map {name!r}")
            self._maps[name] = BpfMap(m, name)
        return self._maps[name]

    def set_global(self, var: str, value: int, section: str = ".bss") -> None:
        """Write a non-const global while the programs run (e.g. ``focus_tgid``)."""
        lib_ = lib()
        offsets = datasec_offsets(lib_.bpf_object__btf(self._obj), section)
        bss = internal_map(self._obj, section)
        if var not in offsets or bss is None:
            raise BpfError(f"{self.name}: no global variable {var!r} in {section}")
        offset, width = offsets[var]
        key = ffi.new("__u32 *", 0)
        value_size = lib_.bpf_map__value_size(bss)
        buf = ffi.new("char[]", value_size)
        fd = lib_.bpf_map__fd(bss)
        # Read-modify-write of the one-element array holding the section.
        with _globals_lock:
            if lib_.bpf_map_lookup_elem(fd, key, buf):
                raise BpfError(f"read {section} of {self.name}", ffi.errno)
            ffi.memmove(buf + offset, int(value).to_bytes(width, "little"), width)
            if lib_.bpf_map_update_elem(fd, key, buf, 0):
                raise BpfError(f"write {var} of {self.name}", ffi.errno)

    def program_ids(self) -> list[int]:
        """Kernel ids of the loaded programs (for ``bpftop check`` and the bpf pane)."""
        ids = []
        for prog in self._programs():
            fd = lib().bpf_program__fd(prog)
            if fd >= 0:
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            ids.append(int(line.split()[1]))
        return ids

    def recursion_misses(self) -> int:
        """Runs the kernel skipped, summed over the programs: lost events.

        A tracing program never nests on one CPU: when its hook fires while it
        runs there (an interrupt, or a preempted task), that run is skipped.
        """
        lib_ = lib()
        total = 0
        for prog in self._programs():
            fd = lib_.bpf_program__fd(prog)
            if fd < 0:
                continue
            info = ffi.new("char[]", PROG_INFO_SIZE)
            size = ffi.new("__u32 *", PROG_INFO_SIZE)
            start, end = RECURSION_MISSES_OFFSET, RECURSION_MISSES_OFFSET + 8
            if lib_.bpf_obj_get_info_by_fd(fd, info, size) == 0 and size[0] >= end:
                total += int.from_bytes(ffi.buffer(info, PROG_INFO_SIZE)[start:end], "little")
        return total

    def close(self) -> None:
        """Detach every link and free the object; safe to call twice."""
        lib_ = lib()
        links, self._links = self._links, []
        for _, link in links:
            lib_.bpf_link__destroy(link)
        if self._obj is not None:
            lib_.bpf_object__close(self._obj)
            self._obj = None
            self._maps.clear()

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def internal_map(obj: Any, suffix: str) -> Any:
    """The libbpf map of an object's data section (``.rodata``, ``.bss``), or None."""
    lib_ = lib()
    m = lib_.bpf_object__next_map(obj, ffi.NULL)
    while m != ffi.NULL:
        if ffi.string(lib_.bpf_map__name(m)).decode().endswith(suffix):
            return m
        m = lib_.bpf_object__next_map(obj, m)
    return None


def set_rodata(obj: Any, values: dict[str, int], name: str) -> None:
    """Write ``const volatile`` globals of an opened, not yet loaded, object."""
    if not values:
        return
    lib_ = lib()
    offsets = datasec_offsets(lib_.bpf_object__btf(obj), ".rodata")
    rodata = internal_map(obj, ".rodata")
    size = ffi.new("size_t *")
    base = lib_.bpf_map__initial_value(rodata, size) if rodata is not None else ffi.NULL
    for var, value in values.items():
        if var not in offsets or base == ffi.NULL:
            raise BpfError(f"{name}: no const volatile variable {var!r}")
        offset, width = offsets[var]
        ffi.memmove(ffi.cast("char *", base) + offset, int(value).to_bytes(width, "little"), width)


def _hook_exists(section: str) -> bool:
    """Whether the kernel has the tracepoint behind a section (True when it cannot tell)."""
    family, _, rest = section.partition("/")
    if has_vmlinux_btf():
        return has_btf_tracepoint(rest.split("/")[-1])
    if family == "tracepoint" and "/" in rest:
        category, name = rest.split("/", 1)
        return tracepoint_exists(category, name) is not False
    return True  # raw_tp without BTF: attaching will tell


def _families_in(path: Path) -> set[str]:
    """Attach families present in an object, read from its ELF section names."""
    data = path.read_bytes()
    return {m for m in METHODS if f"{m}/".encode() in data}
