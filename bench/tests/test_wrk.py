"""Reading wrk's report and building its command line."""

from __future__ import annotations

import pytest

from bench import wrk

OUTPUT = """\
Running 1s test @ http://127.0.0.1:28999/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.95ms    2.18ms  23.38ms   90.34%
    Req/Sec     2.61k   748.05     3.56k    40.00%
  Latency Distribution
     50%    1.18ms
     75%    1.71ms
     90%    4.05ms
     99%   12.30ms
  2607 requests in 1.01s, 428.00KB read
Requests/sec:   2587.57
Transfer/sec:    424.81KB
"""

WITH_ERRORS = """\
Running 10s test @ http://127.0.0.1:8000/api/catalog/products
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.33ms  150.20ms   1.99s    80.00%
    Req/Sec   150.00     40.00   250.00     70.00%
  Latency Distribution
     50%  812.00us
     75%  250.00ms
     90%  400.00ms
     99%    1.20s
  3000 requests in 10.00s, 12.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 5
Requests/sec:    299.95
Transfer/sec:      1.20MB
"""


def test_parse_a_clean_run() -> None:
    result = wrk.parse(OUTPUT)
    assert result.requests_per_second == pytest.approx(2587.57)
    assert result.p50_ms == pytest.approx(1.18)
    assert result.p99_ms == pytest.approx(12.30)
    assert (result.requests, result.errors) == (2607, 0)


def test_parse_counts_socket_errors_and_bad_statuses() -> None:
    result = wrk.parse(WITH_ERRORS)
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.errors == 14
    assert result.error_kinds == {"non-2xx": 5, "read": 2, "timeout": 7}
    assert result.error_summary() == "non-2xx 5, read 2, timeout 7"


def test_parse_refuses_output_without_figures() -> None:
    with pytest.raises(ValueError, match="Requests/sec"):
        wrk.parse("unable to connect to 127.0.0.1:9 Connection refused")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("812.00us", 0.812), ("1.20ms", 1.2), ("2.01s", 2010.0), ("1.00m", 60_000.0)],
)
def test_duration_units(text: str, ms: float) -> None:
    assert wrk.duration_ms(text) == pytest.approx(ms)


def test_command_line_carries_headers_and_never_more_threads_than_connections() -> None:
    load = wrk.Load(threads=2, connections=1, duration=10, warmup=2)
    argv = wrk.command("wrk", "http://x/", load, seconds=3, headers={"Authorization": "Bearer t"})
    assert argv == [
        "wrk", "-t1", "-c1", "-d3s", "--timeout=2s", "--latency",
        "-H", "Authorization: Bearer t", "http://x/",
    ]  # fmt: skip
