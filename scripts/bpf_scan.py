"""Find the kernel features each program of a BPF object uses, and their first Linux release.

What a program needs is read from its instructions, as the verifier would see
them after libbpf's relocation: helper calls (``call`` with ``src_reg`` 0; ids
named by ``enum bpf_func_id`` in the committed vmlinux.h), calls and addresses
of ``.text`` subprograms (followed, so their needs count too), kfunc calls and
ksyms (relocations against undefined symbols), global data (``ld_imm64`` of
``.rodata``/``.bss``/``.data``), atomics, the JMP32 class, cpu v4 encodings,
cycles in the control-flow graph, the program's size and its CO-RE
relocations; plus the program type from its section. Map types and flags come
from ``.maps`` and concern every program, since libbpf creates every map.
"""

from __future__ import annotations

import re
from pathlib import Path

from bpf_object import BpfObject, Insn, ObjectError, Program, Section, Symbol
from kernel_features import (
    INSNS,
    ITER_TARGETS,
    KFUNCS,
    LIBBPF_FALLBACKS,
    MAP_FLAGS,
    MAP_TYPES,
    PROGRAM_TYPES,
)
from kernel_helpers import HELPERS

from bpftop.bpf.btfdata import DATASEC

BPF_MAXINSNS = 4096
JMP, JMP32, STX, LDX, ALU, ALU64 = 0x05, 0x06, 0x03, 0x01, 0x04, 0x07
OP_JA, OP_CALL, OP_EXIT, OP_MOV, OP_DIV, OP_MOD, OP_END = 0x00, 0x80, 0x90, 0xB0, 0x30, 0x90, 0xD0
LD_IMM64, MODE_ATOMIC, MODE_MEMSX = 0x18, 0xC0, 0x80
PSEUDO_CALL = 1
# BPF_ATOMIC operations by imm (BPF_FETCH is bit 0).
ATOMICS = {
    0x00: "atomic add",
    0x40: "atomic and/or/xor",
    0x50: "atomic and/or/xor",
    0xA0: "atomic and/or/xor",
    0x01: "atomic fetch-and-op",
    0x41: "atomic fetch-and-op",
    0x51: "atomic fetch-and-op",
    0xA1: "atomic fetch-and-op",
    0xE1: "atomic xchg/cmpxchg",
    0xF1: "atomic xchg/cmpxchg",
}
DATA_SECTIONS = re.compile(r"\.(rodata|data|bss)(\..*)?$")

Features = dict[str, str]  # feature name -> first Linux release


def enum_values(vmlinux_h: Path, prefix: str) -> dict[int, str]:
    """``{value: name}`` of the enumerators ``<prefix><name> = <value>`` in vmlinux.h (first wins)."""
    out: dict[int, str] = {}
    for name, value in re.findall(rf"\t{prefix}(\w+) = (\d+),", vmlinux_h.read_text()):
        if not name.endswith("_DEPRECATED"):
            out.setdefault(int(value), name)
    return out


class Scanner:
    """Turns one object's programs into feature dicts; raises ObjectError on anything unknown."""

    def __init__(self, obj: BpfObject, vmlinux_h: Path) -> None:
        self.obj = obj
        self.helpers = enum_values(vmlinux_h, "BPF_FUNC_")
        self.map_types = enum_values(vmlinux_h, "BPF_MAP_TYPE_")
        self.core = obj.core_relo_slots()

    def _fail(self, what: str) -> ObjectError:
        return ObjectError(f"{self.obj.path.name}: {what}")

    def object_features(self) -> Features:
        """Map types and flags: libbpf creates every map whichever programs load."""
        found: Features = {}
        for m in self.obj.maps():
            name = self.map_types.get(m.type)
            if name not in MAP_TYPES:
                raise self._fail(f"map {m.name}: type {name or m.type} is not in MAP_TYPES")
            found[f"BPF_MAP_TYPE_{name}"] = MAP_TYPES[name][0]
            for bit in range(32):
                if m.flags & (1 << bit):
                    if (1 << bit) not in MAP_FLAGS:
                        raise self._fail(f"map {m.name}: flag {1 << bit:#x} is not in MAP_FLAGS")
                    flag, version, _ = MAP_FLAGS[1 << bit]
                    found[flag] = version
        return found

    def program_features(self, prog: Program) -> Features:
        """Everything ``prog`` and the subprograms it reaches need."""
        found: Features = {}
        kind, _, rest = prog.section.name.partition("/")
        if kind not in PROGRAM_TYPES:
            raise self._fail(f"section {prog.section.name}: program type not in PROGRAM_TYPES")
        name, version, _ = PROGRAM_TYPES[kind]
        found[name] = version
        if kind == "iter":
            if rest not in ITER_TARGETS:
                raise self._fail(f"iterator target {rest!r} is not in ITER_TARGETS")
            found[f"{rest} iterator"] = ITER_TARGETS[rest][0]
        total = self._function(prog.section, prog.start, prog.count, found, set())
        if total > BPF_MAXINSNS:
            found["more than 4096 instructions"] = INSNS["more than 4096 instructions"][0]
        return found

    def _function(
        self, section: Section, start: int, count: int, found: Features, seen: set[tuple[int, int]]
    ) -> int:
        """Scan one function body; return the instruction count including its callees."""
        seen.add((section.index, start))
        insns = section.insns(start, start + count)
        total, slot = count, 0
        if self.core.get(section.name, set()) & set(range(start, start + count)):
            self._insn("CO-RE relocations (kernel BTF)", found)
        if _has_cycle(insns):
            self._insn("bounded loops", found)
        while slot < count:
            ins, reloc = insns[slot], section.relocs.get((start + slot) * 8)
            callee: tuple[Section, int] | None = None
            if ins.opcode == LD_IMM64:
                callee = self._ld_imm64(ins, reloc, found)
                slot += 1
            elif ins.opcode == JMP | OP_CALL:
                callee = self._call(section, start + slot, ins, reloc, found)
            else:
                self._plain(ins, found)
            if callee is not None:
                fn = self.obj.function_at(*callee)
                key = (callee[0].index, fn.value // 8)
                if key not in seen:
                    total += self._function(callee[0], fn.value // 8, fn.size // 8, found, seen)
            slot += 1
        return total

    def _ld_imm64(self, ins: Insn, sym: Symbol | None, found: Features) -> tuple[Section, int] | None:
        if sym is None:
            return None
        if sym.shndx == 0:  # extern: .kconfig values live in a map, ksyms are BTF ids
            kconfig = self._extern_section(sym.name) == ".kconfig"
            self._insn("global data" if kconfig else "typed ksyms (BPF_PSEUDO_BTF_ID)", found)
            return None
        section = self.obj.by_index[sym.shndx]
        if section.name == ".text":
            self._insn("callback functions", found)
            return section, (sym.value + ins.imm) // 8
        if DATA_SECTIONS.match(section.name):
            self._insn("global data", found)
        elif section.name != ".maps":
            raise self._fail(f"ld_imm64 relocated against section {section.name}")
        return None

    def _call(self, section: Section, slot: int, ins: Insn, reloc: Symbol | None,
              found: Features) -> tuple[Section, int] | None:  # fmt: skip
        if reloc is not None and reloc.shndx == 0:
            if reloc.name not in KFUNCS:
                raise self._fail(f"kfunc {reloc.name} is not in KFUNCS")
            found[f"kfunc {reloc.name}"] = KFUNCS[reloc.name][0]
            return None
        if ins.src == PSEUDO_CALL:
            self._insn("bpf-to-bpf calls", found)
            if reloc is not None:  # to .text: the symbol's offset plus imm, as libbpf
                return self.obj.by_index[reloc.shndx], reloc.value // 8 + ins.imm + 1
            return section, slot + ins.imm + 1
        name = self.helpers.get(ins.imm)
        if name not in HELPERS:
            raise self._fail(f"helper {name or ins.imm} is not in kernel_helpers.HELPERS")
        fallback = LIBBPF_FALLBACKS.get(name)
        if fallback:
            found[f"bpf_{name} (libbpf falls back to bpf_{fallback})"] = HELPERS[fallback][0]
        else:
            found[f"bpf_{name}"] = HELPERS[name][0]
        return None

    def _plain(self, ins: Insn, found: Features) -> None:
        cls, op = ins.opcode & 0x07, ins.opcode & 0xF0
        if cls == JMP32:
            self._insn("cpu v4 instructions" if op == OP_JA else "JMP32 instructions", found)
        elif cls == STX and ins.opcode & 0xE0 == MODE_ATOMIC:
            if ins.imm not in ATOMICS:
                raise self._fail(f"atomic operation {ins.imm:#x} is not known")
            self._insn(ATOMICS[ins.imm], found)
        elif _is_v4(ins):
            self._insn("cpu v4 instructions", found)
        elif cls == JMP and op > 0xD0:
            raise self._fail(f"jump opcode {ins.opcode:#x} is not known")

    def _insn(self, name: str, found: Features) -> None:
        found[name] = INSNS[name][0]

    def _extern_section(self, name: str) -> str:
        btf = self.obj.btf
        for t in btf.types if btf else ():
            if t.kind == DATASEC and any(btf.types[v].name == name for v, _, _ in t.members):
                return t.name
        return ""


def _is_v4(ins: Insn) -> bool:
    """Encodings clang emits only for -mcpu=v4: ldsx, movsx, sdiv/smod, unconditional bswap."""
    cls, op = ins.opcode & 0x07, ins.opcode & 0xF0
    if cls == LDX:
        return ins.opcode & 0xE0 == MODE_MEMSX
    if cls not in (ALU, ALU64):
        return False
    return bool(
        (op == OP_MOV and ins.off)
        or (op in (OP_DIV, OP_MOD) and ins.off == 1)
        or (cls, op) == (ALU64, OP_END)
    )


def _has_cycle(insns: list[Insn]) -> bool:
    """Whether the function's control-flow graph has a cycle, found as the verifier's
    check_cfg does: a depth-first search meeting an instruction still on its path."""
    count = len(insns)

    def successors(i: int) -> list[int]:
        ins = insns[i]
        cls, op = ins.opcode & 0x07, ins.opcode & 0xF0
        if ins.opcode == LD_IMM64:
            return [i + 2]
        if cls not in (JMP, JMP32) or op == OP_CALL:
            return [i + 1]
        if op == OP_EXIT:
            return []
        if op == OP_JA:
            return [i + 1 + (ins.imm if cls == JMP32 else ins.off)]
        return [i + 1, i + 1 + ins.off]

    if not count:
        return False
    state = [1] + [0] * (count - 1)  # 0 unseen, 1 on the path, 2 done
    stack = [(0, iter(successors(0)))]
    while stack:
        node, edges = stack[-1]
        nxt = next(edges, None)
        if nxt is None:
            state[node] = 2
            stack.pop()
        elif 0 <= nxt < count and state[nxt] == 1:
            return True
        elif 0 <= nxt < count and state[nxt] == 0:
            state[nxt] = 1
            stack.append((nxt, iter(successors(nxt))))
    return False
