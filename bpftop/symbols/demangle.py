"""C++ (Itanium) and Rust (legacy and v0) demangling through ``pydemumble``.

pydemumble wraps demumble, i.e. LLVM's demanglers, in a small wheel with no
runtime dependencies. It is optional: without it names stay mangled (still
correct, just harder to read) and nothing fails.
"""

from __future__ import annotations

from collections.abc import Callable

_demangle: Callable[[str], str] | None = None
try:
    import pydemumble

    _demangle = pydemumble.demangle
except ImportError:  # optional dependency: degrade to mangled names
    pass

# Itanium C++ and Rust legacy start with _Z (macOS-style __Z too), Rust v0 with _R.
_PREFIXES = ("_Z", "__Z", "_R")


def available() -> bool:
    """True when a demangler is installed."""
    return _demangle is not None


def demangle(name: str) -> str:
    """The demangled form of ``name``, or ``name`` itself when it is not mangled.

    Rust legacy names lose their ``::h<hash>`` suffix, as rustfilt prints them.
    """
    if _demangle is None or not name.startswith(_PREFIXES):
        return name
    try:
        out = _demangle(name)
    except Exception:  # a malformed name must never break a stack
        return name
    return out or name
