"""The verifier's reason for rejecting a program, found in its load log.

When a program fails to load, libbpf reloads it with ``log_level=1`` and prints
the kernel's whole log as one warning: ``prog 'NAME': -- BEGIN PROG LOAD LOG
--``, the log's lines, ``-- END PROG LOAD LOG --``. At that level the log is
the path the verifier walked to the failure: instructions, register states and
source lines, then the verifier's sentence, then statistics. Its head holds
warnings that do not fail the load (``reg type unsupported for arg#0``); its
tail holds the reason. Pure text: no cffi, tested on real logs
(``tests/fixtures/verifier``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = "-- BEGIN PROG LOAD LOG --"
END = "-- END PROG LOAD LOG --"
MAX_SENTENCE_LINES = 3

_HEADER = re.compile(r"prog '([^']*)': " + re.escape(BEGIN))
# "123: (0f) r1 += r2", optionally followed by the state after it
# ("   ; R1=scalar()"). libbpf rewrites a poisoned instruction (failed CO-RE
# relocation, missing map) as "123: <invalid CO-RE relocation>".
_INSN = re.compile(r"^(\d+): (?:\([0-9a-f]{2}\) (.*?)|(<[^>]*>))(?:\s+; .*)?$")
# Line info: "; text @ file.c:12" (Linux >= 6.7), "; text" (older), or
# "12: text" where the kernel prefixes a line with an instruction index
# (back-edge and loop reports).
_SOURCE_SEMI = re.compile(r"^; ?(.*?)(?: @ (\S+:\d+))?$")
_INDEXED = re.compile(r"^(\d+): (.*)$")
# What follows an index and is not source: a state ("R1=ctx()", "R6_w=...",
# "fp-8=...", "frame1: ..."), "safe" (log level 2).
_STATE = re.compile(r"^(R\d+(_[a-zA-Z]+)?=|fp-?\d+|frame\d+:|safe$)")
_TRACE = re.compile(r"^(\d+: |; |from \d+ to \d+: |\s)")
# Statistics the verifier appends after its reason, and the states it dumps
# after "infinite loop detected".
_STATS = re.compile(
    r"^(processed \d+ insns|verification time |stack depth |max_states_per_insn |"
    r"(cur|old) state:)"
)


@dataclass(frozen=True)
class VerifierLog:
    """One program's verifier log, whole, as libbpf printed it on a failed load.

    Attributes:
        program: the program's name in the object (``sys_exit_raw``).
        text: the kernel's log, between libbpf's BEGIN and END markers.
    """

    program: str
    text: str

    def rejection(self) -> Rejection:
        """The reason found at the log's end."""
        return find_rejection(self.program, self.text)


@dataclass(frozen=True)
class Rejection:
    """Why the verifier rejected a program, in its own words.

    Attributes:
        program: the program's name.
        sentence: the verifier's last sentence(s), joined with ``"; "``.
        insn: the failing instruction without its opcode (``123: r1 += r2``), or "".
        source: the C source line last named before it, or "".
        location: ``file.c:108`` when the kernel prints it (Linux >= 6.7), or "".
    """

    program: str
    sentence: str
    insn: str = ""
    source: str = ""
    location: str = ""

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(f"at {self.location} `{self.source}`" if self.location else f"at `{self.source}`")
        if self.insn:
            where.append(f"insn {self.insn}")
        text = f"verifier rejected {self.program}: {self.sentence or 'no reason in its log'}"
        return f"{text} ({', '.join(where)})" if where else text


def parse_libbpf_message(message: str) -> VerifierLog | None:
    """The load log carried by one libbpf message, None if it carries none.

    Args:
        message: a whole libbpf message: ``libbpf: prog 'x': -- BEGIN PROG
            LOAD LOG --``, a line break, the log, ``-- END PROG LOAD LOG --``.
    """
    header = _HEADER.search(message)
    if header is None:
        return None
    body = message[header.end() :]
    end = body.rfind(END)
    body = body[:end] if end >= 0 else body  # a message cut short keeps what it has
    return VerifierLog(header.group(1), body.strip("\n"))


def find_rejection(program: str, log: str) -> Rejection:
    """Find the reason in a verifier log: its sentence, instruction and source line.

    Args:
        program: the program's name.
        log: the kernel's log text (log level 1 or 2).
    """
    lines = [line.rstrip() for line in log.splitlines()]
    end = len(lines)
    while end and (not lines[end - 1] or _STATS.match(lines[end - 1])):
        end -= 1
    start = end
    while start and lines[start - 1] and not _TRACE.match(lines[start - 1]):
        start -= 1
    sentence = [line for line in lines[start:end] if not _STATS.match(line)]
    insn, source, location = "", "", ""
    # The source line the kernel printed last before the failing instruction
    # is the one that holds it: it prints a line only when the line changes.
    for line in reversed(lines[:start]):
        found = _INSN.match(line)
        if found:
            insn = insn or f"{found.group(1)}: {found.group(2) or found.group(3)}"
            continue
        source, location = _source(line)
        if source:
            break
    return Rejection(program, "; ".join(sentence[-MAX_SENTENCE_LINES:]), insn, source, location)


def _source(line: str) -> tuple[str, str]:
    """(source text, location) when ``line`` is line info, else ("", "")."""
    if line.startswith(";"):
        found = _SOURCE_SEMI.match(line)
        if found and found.group(1).strip():  # ";  @ file.c:0": no line for this insn
            return found.group(1).strip(), found.group(2) or ""
        return "", ""
    found = _INDEXED.match(line)
    if found and not _INSN.match(line) and not _STATE.match(found.group(2)):
        return found.group(2).strip(), ""
    return "", ""
