"""Record timestamps: ISO 8601 UTC with milliseconds, as datetime writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from router.core.records import iso


@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # 1970 .. 2100
def test_iso_matches_datetime(ms: int) -> None:
    expected = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    assert iso(ms) == expected.removesuffix("+00:00") + "Z"


def test_iso_examples() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_795_454_104_383) == "2026-11-23T17:15:04.383Z"
    assert iso(1_795_454_104_999) == "2026-11-23T17:15:04.999Z"
