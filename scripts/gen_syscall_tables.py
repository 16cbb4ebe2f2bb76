"""Generate bpftop/collectors/syscalls_table.py from the kernel uapi headers.

x86_64 numbers come from ``asm/unistd_64.h``; aarch64 numbers come from the
generic table ``asm-generic/unistd.h`` evaluated the way arm64's
``asm/unistd.h`` includes it (64-bit, with arm64's ``__ARCH_WANT_*`` macros).
Syscalls newer than the installed headers are filled in from ``SUPPLEMENT``.

Usage:
    python scripts/gen_syscall_tables.py          # (re)write the module
    python scripts/gen_syscall_tables.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "bpftop" / "collectors" / "syscalls_table.py"
X86_64_HEADER = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
GENERIC_HEADER = "/usr/include/asm-generic/unistd.h"

# What arch/arm64/include/uapi/asm/unistd.h defines before including
# asm-generic/unistd.h (kernel 6.1). TIME32_SYSCALLS only matters for 32-bit
# ABIs: on 64-bit the "|| __BITS_PER_LONG != 32" arm already selects them.
ARM64_MACROS: dict[str, int] = {
    "__BITS_PER_LONG": 64,
    "__ARCH_WANT_RENAMEAT": 1,
    "__ARCH_WANT_NEW_STAT": 1,
    "__ARCH_WANT_SET_GET_RLIMIT": 1,
    "__ARCH_WANT_TIME32_SYSCALLS": 1,
    "__ARCH_WANT_SYS_CLONE3": 1,
    "__ARCH_WANT_MEMFD_SECRET": 1,
}

# Syscalls added after the headers' kernel (6.1). Since 5.1 numbers >= 424
# are identical on every architecture, so these apply to x86_64 and aarch64.
# Only used where a header lacks the number. Comment = kernel that added it.
SUPPLEMENT: dict[int, str] = {
    451: "cachestat",  # 6.5
    452: "fchmodat2",  # 6.6
    453: "map_shadow_stack",  # 6.6 (x86 CET; arm64 GCS since 6.13)
    454: "futex_wake",  # 6.7
    455: "futex_wait",  # 6.7
    456: "futex_requeue",  # 6.7
    457: "statmount",  # 6.8
    458: "listmount",  # 6.8
    459: "lsm_get_self_attr",  # 6.8
    460: "lsm_set_self_attr",  # 6.8
    461: "lsm_list_modules",  # 6.8
    462: "mseal",  # 6.10
    463: "setxattrat",  # 6.13
    464: "getxattrat",  # 6.13
    465: "listxattrat",  # 6.13
    466: "removexattrat",  # 6.13
    467: "open_tree_attr",  # 6.15
    468: "file_getattr",  # 6.17
    469: "file_setattr",  # 6.17
}

# x86_64-only additions below the unified range (arch-specific numbers).
X86_64_SUPPLEMENT: dict[int, str] = {
    335: "uretprobe",  # 6.11
    336: "uprobe",  # 6.18
}

# __NR_* defines that are not syscalls.
NOT_SYSCALLS = frozenset({"syscalls", "arch_specific_syscall"})

_DIRECTIVE = re.compile(r"^\s*#\s*(\w+)\s*(.*?)\s*$")
_NR_DEFINE = re.compile(r"^(__NR(?:3264)?_\w+)\s+(\w+)$")
_EXPR_TOKEN = re.compile(r"\s*(defined|\w+|\|\||&&|==|!=|!|\(|\))")


def _eval_condition(expr: str, macros: dict[str, int]) -> bool:
    """Evaluates a preprocessor ``#if`` expression.

    Supports ``defined(X)``/``defined X``, integers, macro names (undefined
    ones are 0), ``!``, ``==``, ``!=``, ``&&``, ``||`` and parentheses.

    Args:
        expr: The text after ``#if``.
        macros: Defined macro names mapped to their integer values.

    Returns:
        The truth value of the expression.

    Raises:
        ValueError: If the expression uses unsupported syntax.
    """
    text = expr.split("/*", maxsplit=1)[0].strip()
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        match = _EXPR_TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"unsupported #if expression: {expr!r}")
        tokens.append(match.group(1))
        pos = match.end()
    tokens.append("")  # end marker

    def take(*expected: str) -> str:
        tok = tokens[0]
        if (expected and tok not in expected) or (not expected and not tok):
            raise ValueError(f"malformed #if expression: {expr!r}")
        return tokens.pop(0)

    def unary() -> int:
        tok = take()
        if tok == "!":
            return int(not unary())
        if tok == "(":
            value = binary(0)
            take(")")
            return value
        if tok == "defined":
            if tokens[0] == "(":
                take("(")
                name = take()
                take(")")
            else:
                name = take()
            return int(name in macros)
        if tok.isdigit():
            return int(tok)
        if re.fullmatch(r"[A-Za-z_]\w*", tok):
            return macros.get(tok, 0)
        raise ValueError(f"unexpected {tok!r} in #if {expr!r}")

    levels = (("||",), ("&&",), ("==", "!="))

    def binary(level: int) -> int:
        if level == len(levels):
            return unary()
        value = binary(level + 1)
        while tokens[0] in levels[level]:
            op, rhs = take(), binary(level + 1)
            if op == "||":
                value = int(bool(value) or bool(rhs))
            elif op == "&&":
                value = int(bool(value) and bool(rhs))
            else:
                value = int((value == rhs) == (op == "=="))
        return value

    result = binary(0)
    take("")
    return bool(result)


def parse_header(text: str, macros: dict[str, int] | None = None) -> dict[str, str]:
    """Collects the ``__NR_*``/``__NR3264_*`` defines active in a header.

    Args:
        text: The header's contents.
        macros: Macros predefined before the header is read.

    Returns:
        Define name mapped to its raw value (a number or another define).

    Raises:
        ValueError: On unbalanced or unsupported conditionals.
    """
    macros = dict(macros or {})
    defines: dict[str, str] = {}
    # Each frame: (this branch active, some branch already taken, parent active).
    stack: list[tuple[bool, bool, bool]] = []
    active = True
    for line in text.replace("\\\n", " ").splitlines():
        match = _DIRECTIVE.match(line)
        if not match:
            continue
        directive, rest = match.groups()
        if directive in ("if", "ifdef", "ifndef"):
            name = rest.split()[0] if rest else ""
            if directive == "if":
                cond = _eval_condition(rest, macros)
            else:
                cond = (name in macros) == (directive == "ifdef")
            stack.append((active and cond, cond, active))
            active = active and cond
        elif directive == "else":
            if not stack:
                raise ValueError("#else without #if")
            _, taken, parent = stack.pop()
            stack.append((parent and not taken, True, parent))
            active = parent and not taken
        elif directive == "endif":
            if not stack:
                raise ValueError("#endif without #if")
            active = stack.pop()[2]
        elif directive in ("elif", "elifdef", "elifndef"):
            raise ValueError(f"unsupported directive #{directive}")
        elif not active:
            continue
        elif directive == "define":
            name, value = ([*rest.split(None, 1), ""])[:2]
            name = name.split("(")[0]
            value = value.strip()
            macros[name] = int(value) if value.isdigit() else 1
            nr = _NR_DEFINE.match(f"{name} {value}")
            if nr:
                defines[nr.group(1)] = nr.group(2)
        elif directive == "undef":
            macros.pop(rest.split()[0], None)
            defines.pop(rest.split()[0], None)
    if stack:
        raise ValueError("unterminated #if")
    return defines


def build_table(defines: dict[str, str], supplement: dict[int, str]) -> dict[int, str]:
    """Turns header defines into a number -> name table.

    ``__NR3264_*`` entries are internal; they are named through the ``__NR_*``
    aliases that point at them (e.g. ``__NR_newfstatat __NR3264_fstatat``).

    Args:
        defines: Output of :func:`parse_header`.
        supplement: Entries used only where the headers lack the number.

    Returns:
        Syscall number mapped to name, sorted by number.

    Raises:
        ValueError: If two syscalls share a number or an alias is dangling.
    """
    table: dict[int, str] = {}
    for define, raw in defines.items():
        if not define.startswith("__NR_"):
            continue
        name = define.removeprefix("__NR_")
        if name in NOT_SYSCALLS:
            continue
        value = raw
        while not value.isdigit():
            if value not in defines:
                raise ValueError(f"{define} refers to unknown {value}")
            value = defines[value]
        nr = int(value)
        if table.setdefault(nr, name) != name:
            raise ValueError(f"number {nr} is both {table[nr]} and {name}")
    for nr, name in supplement.items():
        table.setdefault(nr, name)
    return dict(sorted(table.items()))


def render(x86_64: dict[int, str], aarch64: dict[int, str]) -> str:
    """Renders the generated Python module.

    Args:
        x86_64: The x86_64 table.
        aarch64: The aarch64 table.

    Returns:
        The module source.
    """

    def literal(name: str, table: dict[int, str]) -> str:
        body = "".join(f'    {nr}: "{sc}",\n' for nr, sc in table.items())
        return f"{name}: dict[int, str] = {{\n{body}}}\n"

    return f'''# Generated by scripts/gen_syscall_tables.py; do not edit.
"""Syscall number -> name tables for x86_64 and aarch64."""

from __future__ import annotations

import platform

{literal("X86_64", x86_64)}
{literal("AARCH64", aarch64)}
_MACHINES: dict[str, dict[int, str]] = {{
    "x86_64": X86_64,
    "amd64": X86_64,
    "aarch64": AARCH64,
    "arm64": AARCH64,
}}


def table_for(machine: str | None = None) -> dict[int, str]:
    """Returns the syscall table for a machine.

    Args:
        machine: A ``platform.machine()`` style name; defaults to this host's.

    Returns:
        The number -> name table, or an empty dict for unknown machines.
    """
    if machine is None:
        machine = platform.machine()
    return _MACHINES.get(machine.lower(), {{}})


def syscall_name(nr: int, table: dict[int, str]) -> str:
    """Returns the name of syscall ``nr``, or ``syscall_<nr>`` if unknown."""
    return table.get(nr, f"syscall_{{nr}}")


def syscall_number(name: str, table: dict[int, str]) -> int | None:
    """Returns the number of syscall ``name``, or None if unknown."""
    return next((nr for nr, sc in table.items() if sc == name), None)
'''


def generate(x86_64_header: Path, generic_header: Path) -> str:
    """Reads the headers and renders the module.

    Args:
        x86_64_header: Path to x86_64 ``asm/unistd_64.h``.
        generic_header: Path to ``asm-generic/unistd.h``.

    Returns:
        The module source.
    """
    x86_64 = build_table(parse_header(x86_64_header.read_text()), {**SUPPLEMENT, **X86_64_SUPPLEMENT})
    aarch64 = build_table(parse_header(generic_header.read_text(), ARM64_MACROS), SUPPLEMENT)
    return render(x86_64, aarch64)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments, without the program name.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x86-64-header", type=Path, default=Path(X86_64_HEADER))
    parser.add_argument("--generic-header", type=Path, default=Path(GENERIC_HEADER))
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --output is out of date")
    args = parser.parse_args(argv)
    try:
        source = generate(args.x86_64_header, args.generic_header)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text() if args.output.exists() else None
        if current != source:
            print(f"{args.output} is out of date; rerun {Path(__file__).name}")
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
