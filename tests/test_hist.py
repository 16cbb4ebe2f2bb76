import pytest

from bpftop import hist


def test_slot_bounds():
    assert hist.slot_bounds(0) == (0, 2)
    assert hist.slot_bounds(23) == (1 << 23, 1 << 24)


@pytest.mark.parametrize(
    ("slots", "q", "expected"),
    [
        ([0, 0, 0, 10], 50, 12.0),  # half way through [8, 16)
        ([0, 0, 0, 10], 100, 16.0),
        ([10, 0, 0, 10], 50, 2.0),  # rank 10 ends slot 0
        ([0] * 4, 50, None),
    ],
)
def test_percentile(slots, q, expected):
    assert hist.percentile(slots, q) == expected


def test_median_slot():
    assert hist.median_slot([0, 1, 5, 1]) == 2
    assert hist.median_slot([0, 0]) is None


def test_delta_handles_restart():
    assert hist.delta((5, 6), (1, 2)) == (4, 4)
    assert hist.delta((1, 6), (2, 2)) == (1, 6)  # a slot went down: the source restarted
    assert hist.delta((1, 2), None) == (1, 2)
