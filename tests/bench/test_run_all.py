"""``make bench``'s table gets one row per live-stream count and the sustained count
(bench.run_all.stream_entries)."""

from __future__ import annotations

from bench.run_all import _row, stream_entries


def test_stream_report_becomes_one_row_per_count_and_the_sustained_count() -> None:
    report = {
        "name": "WS /stream", "input": "speech", "command": "python -m bench.stream",
        "results": {
            "levels": {"10": {"p50_ms": 8.0, "p99_ms": 40.0}, "50": {"p50_ms": 20.0, "p99_ms": 400.0}},
            "most_streams_sustained": 10, "target_p99_ms": 300.0,
        },
    }  # fmt: skip
    rows = [_row(entry) for entry in stream_entries(report)]
    assert rows == [
        "| WS /stream, 10 concurrent real-time streams (window latency) | p50 8.0 ms, p99 40.0 ms | speech |",
        "| WS /stream, 50 concurrent real-time streams (window latency) | p50 20.0 ms, p99 400.0 ms | speech |",
        '| WS /stream, most real-time streams with p99 ≤ 300 ms | {"streams": 10} | speech |',
    ]
