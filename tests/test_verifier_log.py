"""A rejected program's verifier log: its reason is found at its end, in real logs.

The logs are in ``tests/fixtures/verifier`` (its README says where each comes from).
"""

from __future__ import annotations

from conftest import REPO

from bpftop.bpf.verifier import Rejection, VerifierLog, find_rejection, parse_libbpf_message

LOGS = REPO / "tests" / "fixtures" / "verifier"


def _log(name: str) -> str:
    return (LOGS / name).read_text()


def test_unbounded_access_on_6_18() -> None:
    found = find_rejection("reject_unbounded", _log("linux-6.18-unbounded-access.log"))
    assert found == Rejection(
        "reject_unbounded",
        "R6 unbounded memory access, make sure to bounds check any such access",
        insn="29: r1 = *(u64 *)(r6 +0)",
        source="h->slots[slot] += 1;",
        location="verifier_reject.bpf.c:36",
    )
    assert str(found) == (
        "verifier rejected reject_unbounded: R6 unbounded memory access, make sure to bounds "
        "check any such access (at verifier_reject.bpf.c:36 `h->slots[slot] += 1;`, "
        "insn 29: r1 = *(u64 *)(r6 +0))"
    )


def test_the_head_of_the_log_is_not_the_reason() -> None:
    text = _log("linux-6.18-unbounded-access.log")
    assert text.startswith("arg#0 reference type")  # what a cut log showed
    assert "arg#0" not in str(find_rejection("reject_unbounded", text))


def test_states_dumped_after_the_reason_are_skipped() -> None:
    found = find_rejection("spin", _log("linux-6.18-infinite-loop.log"))
    assert found.sentence == "infinite loop detected at insn 3"
    assert (found.source, found.location) == ("while (!stop)", "loop.bpf.c:7")


def test_back_edge_on_6_1_has_indexed_source_lines() -> None:
    found = find_rejection("block_rq_complete_raw", _log("debian-6.1-back-edge.log"))
    assert found == Rejection(
        "block_rq_complete_raw",
        "back-edge from insn 209 to 210",
        source="__u64 slot = log2_u64(times / 1000);",
    )
    assert str(found) == (
        "verifier rejected block_rq_complete_raw: back-edge from insn 209 to 210 "
        "(at `__u64 slot = log2_u64(times / 1000);`)"
    )


def test_unbounded_min_on_6_1() -> None:
    found = find_rejection("sys_exit_raw", _log("debian-6.1-unbounded-min-tail.log"))
    assert found == Rejection(
        "sys_exit_raw",
        "math between map_value pointer and register with unbounded min value is not allowed",
        insn="123: r1 += r2",
        source="h->slots[slot] += 1;",
        location="syscalls.bpf.c:108",
    )


def test_a_log_without_instructions() -> None:
    # From a selftest failure reported on the bpf list (LLVM 19, Feb 2024).
    text = (
        "combined stack size of 4 calls is 544. Too large\n"
        "verification time 1344153 usec\n"
        "stack depth 24+440+0+32\n"
        "processed 51008 insns (limit 1000000) max_states_per_insn 19 total_states 1467 "
        "peak_states 303 mark_read 146\n"
    )
    assert str(find_rejection("on_event", text)) == (
        "verifier rejected on_event: combined stack size of 4 calls is 544. Too large"
    )


def test_libbpf_poisoned_instruction_is_the_instruction() -> None:
    text = (
        "; x = BPF_CORE_READ(t, field); @ a.bpf.c:9\n"
        "5: <invalid CO-RE relocation>\n"
        "failed to resolve CO-RE relocation <byte_off> [7] struct task_struct.no_field (0:99)\n"
        "processed 6 insns (limit 1000000)\n"
    )
    found = find_rejection("p", text)
    assert found.insn == "5: <invalid CO-RE relocation>"
    assert found.source == "x = BPF_CORE_READ(t, field);"


def test_libbpf_message_carries_the_log() -> None:
    body = _log("debian-6.1-back-edge.log")
    header = "libbpf: prog 'block_rq_complete_raw': -- BEGIN PROG LOAD LOG --"
    message = f"{header}\n{body}-- END PROG LOAD LOG --\n"
    assert parse_libbpf_message(message) == VerifierLog("block_rq_complete_raw", body.rstrip("\n"))
    assert parse_libbpf_message("libbpf: prog 'x': failed to load: -22") is None
