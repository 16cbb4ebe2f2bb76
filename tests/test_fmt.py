"""The one formatter (bpftop/fmt.py): every text output shows a figure this way."""

import pytest

from bpftop.fmt import fmt_bytes, fmt_count, fmt_mb, fmt_pct, fmt_rate, fmt_ratio, format_ns


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (None, "-"), (0, "0ns"), (850, "850ns"), (12_300, "12.3us"), (4_100_000, "4.1ms"),
        (2_050_000_000, "2.05s"), (150e9, "150s"), (1234e9, "1234s"),
    ],
)  # fmt: skip
def test_format_ns(ns, text):
    assert format_ns(ns) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"), (0, "0"), (0.5, "0.5"), (5, "5.0"), (9.94, "9.9"), (120.4, "120"), (9_999, "9999"),
        (12_345, "12.3k"), (999_949, "999.9k"), (4_500_000, "4.5M"), (1.2e9, "1.2G"),
    ],
)  # fmt: skip
def test_fmt_rate_fits_six_cells(value, text):
    assert fmt_rate(value) == text
    assert len(text) <= 6


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"), (0, "0"), (7, "7"), (2.5, "2.5"), (120, "120"), (12_345, "12.3k"),
        (4_500_000, "4.5M"), (1.2e9, "1.2G"),
    ],
)  # fmt: skip
def test_fmt_count_keeps_whole_numbers_whole(value, text):
    assert fmt_count(value) == text


def test_fmt_bytes_in_powers_of_1024() -> None:
    cases = {None: "-", 0: "0", 1023: "1023", 1024: "1.0K", 409_600: "400K"}
    cases |= {1_258_291: "1.2M", 123_456_789: "118M", 5 << 30: "5.0G", 3 << 50: "3072T"}
    assert {v: fmt_bytes(v) for v in cases} == cases


def test_decimal_megabytes_percentages_and_ratios() -> None:
    assert (fmt_mb(None), fmt_mb(480_000), fmt_mb(120e6)) == ("-", "0.48", "120.00")
    assert (fmt_pct(None), fmt_pct(37.54), fmt_pct(0.123, 2), fmt_pct(81.4, 0)) == ("-", "37.5", "0.12", "81")
    assert (fmt_ratio(None), fmt_ratio(1.2468), fmt_ratio(1.25, 1)) == ("-", "1.25", "1.2")

