"""Pure-Python symbolization of kernel and user stack addresses.

Kernel addresses are named from ``/proc/kallsyms`` (core kernel, modules and
``[bpf]`` programs); user addresses from ``/proc/PID/maps`` plus the ELF
symbol tables of the mapped files (read with mmap + struct, cached by
device, inode and mtime), separate debug files, ``/tmp/perf-PID.map`` for JIT
code and the vDSO. C++ and Rust names are demangled when ``pydemumble`` is
installed. No external tools. An address that cannot be named becomes an
unknown Frame (module+offset), never an exception or a dropped frame.

Interface used by the stacks collector::

    sym = Symbolizer()
    sym.kernel([0xffffffff816b7434])   # [Frame("do_sys_openat2", "[kernel]", 4, "kernel")]
    sym.user(pid, user_addrs)          # one Frame per address, same order
    sym.forget(exited_pids)
    sym.notes                          # ("kptr_restrict hides kernel addresses: ...",)
"""

from bpftop.symbols.frame import Frame
from bpftop.symbols.symbolizer import Symbolizer

__all__ = ["Frame", "Symbolizer"]
