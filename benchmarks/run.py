#!/usr/bin/env python
"""Reproducible throughput and memory benchmarks for nexla-procurify.

    python benchmarks/run.py            # the full run (about 2-3 minutes on 2 cores)
    python benchmarks/run.py --quick    # a smoke run (under 30 seconds)

Everything is measured side by side in one run and reported as ratios (concurrent vs
sequential, large vs small), because shared machines make absolute timings noisy. Each
measurement is repeated and the median taken; the repetitions of the configurations being
compared are interleaved so that a slow spell of the machine hits all of them alike.

The connector is driven through the real hook path: ``Host(plugins=[nexla_procurify.plugin])``
-> ``authenticate`` -> ``read`` / ``write``. The sandbox runs in a child process (this script
with the hidden ``--serve-sandbox`` option), so ``tracemalloc`` sees only the connector's memory
and the sandbox's CPU is not charged to the client's interpreter. Its credential travels through
a 0600 file in a private temporary directory, deleted as soon as it is read; it is never printed.

Standard library and the package only. Exit status: 0 when every target is met, 1 when one is
missed, 2 when a measurement could not be made.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import nexla_procurify.plugin
from nexla_procurify.host import Host
from nexla_procurify.messages import Record
from nexla_procurify.resources import catalogue

CONNECTOR = "procurify"
RESOURCE = "vendors"
LOOPBACK_ENV = "NEXLA_PROCURIFY_ALLOW_LOOPBACK"
MiB = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """The sizes of one run."""

    repeats: int  # timings: median of this many interleaved runs
    latency: float  # seconds the sandbox waits before answering each request
    page_size: int
    read_records: int  # read throughput
    read_memory: tuple[int, int]  # records streamed: small, large
    write_records: int  # write throughput
    write_memory: tuple[int, int]  # records written from a generator: small, large
    read_memory_repeats: int  # tracemalloc peaks barely vary; writing under it is slow
    write_memory_repeats: int
    memory_latency: float  # latency for the memory runs (only the connector's memory matters)
    auto_pages: int  # pages read by each configuration of the "auto" group (100 ms latency)
    auto_levels: tuple[int, ...]  # the fixed concurrencies "auto" is compared with
    limited_pages: int  # pages read against the sandbox limited to LIMITED_RPS


FULL = Plan(
    repeats=3,
    latency=0.020,
    page_size=100,
    read_records=20_000,
    read_memory=(5_000, 50_000),
    write_records=500,
    write_memory=(2_000, 20_000),
    read_memory_repeats=3,
    write_memory_repeats=1,
    memory_latency=0.0,
    auto_pages=500,
    auto_levels=(16, 32),
    limited_pages=200,
)
QUICK = dataclasses.replace(
    FULL,
    read_records=4_000,
    read_memory=(4_000, 40_000),
    write_records=80,
    write_memory=(250, 2_500),
    auto_pages=150,
    auto_levels=(8, 32),
    limited_pages=100,
)

READ_SPEEDUP_TARGET = 3.0
WRITE_SPEEDUP_TARGET = 2.5
MEMORY_RATIO_TARGET = 1.5
AUTO = "auto"  # the default concurrency of reads and writes
AUTO_LATENCY = 0.100  # the "auto" group's sandbox latency (seconds per request)
AUTO_SHARE_TARGET = 0.90  # auto >= 90 % of the best fixed concurrency
LIMITED_RPS = 10.0  # the rate-limited sandbox's requests per second
LIMITED_SHARE_TARGET = 0.90  # auto >= 90 % of LIMITED_RPS pages per second
LIMITED_429_TARGET = 0.05  # at most 5 % of the requests answered 429


# ------------------------------------------------------------------------------ the sandbox


def serve_sandbox(spec_json: str, credential_path: str) -> int:
    """Child process: serve a sandbox until stdin closes; the credential goes to a 0600 file."""
    spec = json.loads(spec_json)
    from nexla_procurify.sandbox import Sandbox

    with Sandbox(
        records=spec["records"],
        latency=spec["latency"],
        seed=0,
        rate_limit=spec.get("rate_limit"),
    ) as sandbox:
        descriptor = os.open(credential_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(sandbox.credential("benchmark sandbox"), handle)
        print("ready", flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or exits)
    return 0


class SandboxProcess:
    """A sandbox in a child process; ``credential`` is its credential (keep it off screens)."""

    def __init__(
        self, records: dict[str, int], latency: float, rate_limit: float | None = None
    ) -> None:
        self.spec = {"records": records, "latency": latency, "rate_limit": rate_limit}
        self.credential: dict[str, Any] = {}
        self._process: subprocess.Popen[str] | None = None

    def __repr__(self) -> str:
        return f"SandboxProcess({self.spec!r})"

    def __enter__(self) -> SandboxProcess:
        with tempfile.TemporaryDirectory(prefix="procurify-bench-") as private:
            path = Path(private) / "credential.json"
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--serve-sandbox",
                    json.dumps(self.spec),
                    str(path),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self._process.stdout is not None
            line = self._process.stdout.readline()
            if line.strip() != "ready":
                self.__exit__()
                raise RuntimeError(f"the sandbox process did not start ({self.spec!r})")
            self.credential = json.loads(path.read_text())
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# ------------------------------------------------------------------------------ measurements


def connect(host: Host, sandbox: SandboxProcess) -> Any:
    session = host.authenticate(CONNECTOR, sandbox.credential)
    session.get("/api/v3/users/me").close()  # the token exchange is not part of any measurement
    return session


def read_all(host: Host, session: Any, *, concurrency: int | str, page_size: int) -> int:
    """Stream every vendor through ``read_source``, keeping nothing; the number of records."""
    config = {"resource": RESOURCE, "page_size": page_size, "concurrency": concurrency}
    count = 0
    for message in host.read(CONNECTOR, session, config, None):
        if isinstance(message, Record):
            count += 1
    return count


def vendors(count: int, tag: str) -> Iterator[dict[str, Any]]:
    """Valid vendor create records, made one at a time (the input is a generator)."""
    for i in range(count):
        yield {
            "name": f"Benchmark vendor {tag}-{i}",
            "email": [f"ap-{tag}-{i}@bench.example"],
            "type": 3,
            "external_id": f"bench-{tag}-{i}",
            "overall_score": None,  # required (nullable) by Procurify's OptimizedVendorRequest
        }


def write_all(
    host: Host, session: Any, *, count: int, concurrency: int | str, tag: str
) -> Counter[str]:
    """Create ``count`` vendors through ``write_destination``; the results' statuses."""
    config = {"resource": RESOURCE, "operation": "create", "concurrency": concurrency}
    statuses: Counter[str] = Counter()
    for result in host.write(CONNECTOR, session, config, vendors(count, tag)):
        statuses[result.status] += 1
    return statuses


def timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    outcome = action()
    return time.perf_counter() - started, outcome


def peak_memory(action: Callable[[], T]) -> tuple[int, T]:
    """Peak bytes allocated by Python while ``action`` runs (tracemalloc), and its outcome."""
    gc.collect()
    tracemalloc.start()
    try:
        outcome = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, outcome


class Tags:
    """Unique external ids across every write of the run."""

    def __init__(self) -> None:
        self._next = 0
        self._run = f"{os.getpid()}-{int(time.time())}"

    def __call__(self) -> str:
        self._next += 1
        return f"{self._run}-{self._next}"


# ------------------------------------------------------------------------------ reporting


@dataclass
class Row:
    name: str
    value: str
    target: str = ""
    passed: bool | None = None  # None: informational

    @property
    def verdict(self) -> str:
        return "" if self.passed is None else ("PASS" if self.passed else "FAIL")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "", passed: bool | None = None) -> None:
        self.rows.append(Row(name, value, target, passed))
        print(
            f"  {name}: {value}" + (f"  [{target}: {self.rows[-1].verdict}]" if target else ""),
            file=sys.stderr,
            flush=True,
        )

    @property
    def failed(self) -> bool:
        return any(row.passed is False for row in self.rows)

    def table(self) -> str:
        headers = ("measurement", "median", "target", "result")
        cells = [(row.name, row.value, row.target, row.verdict) for row in self.rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
        lines = [
            "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
            "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        ]
        for cell in cells:
            lines.append(
                "| " + " | ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) + " |"
            )
        return "\n".join(lines)


def _spread(values: Sequence[float], fmt: str) -> str:
    """The median, and the range when there was more than one run."""
    if len(values) == 1:
        return fmt.format(values[0])
    return (
        f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}"
        f"..{fmt.format(max(values))})"
    )


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the benchmarks


def bench_read_throughput(plan: Plan, report: Report) -> None:
    cat = catalogue()
    levels: list[int | str] = [1, cat.default_read_concurrency, cat.max_read_concurrency]
    progress(
        f"read throughput: {plan.read_records} {RESOURCE}, page_size {plan.page_size}, "
        f"latency {plan.latency * 1000:.0f} ms, concurrency {levels}, "
        f"{plan.repeats} repeats"
    )
    host = Host(plugins=[nexla_procurify.plugin])
    with SandboxProcess({RESOURCE: plan.read_records}, plan.latency) as sandbox:
        session = connect(host, sandbox)
        try:
            rates: dict[int | str, list[float]] = {level: [] for level in levels}
            # One untimed pass (imports, schemas, connection pool), then interleaved repeats.
            read_all(host, session, concurrency=cat.max_read_concurrency, page_size=plan.page_size)
            for _ in range(plan.repeats):
                for level in levels:
                    seconds, count = timed(
                        lambda level=level: read_all(
                            host, session, concurrency=level, page_size=plan.page_size
                        )
                    )
                    if count != plan.read_records:
                        raise RuntimeError(f"read {count} records, expected {plan.read_records}")
                    rates[level].append(plan.read_records / seconds)
        finally:
            session.close()
    base = statistics.median(rates[1])
    for level in levels:
        label = {
            1: "sequential",
            cat.default_read_concurrency: "default",
            cat.max_read_concurrency: "max",
        }[level]
        report.add(f"read c={level} ({label}) records/s", _spread(rates[level], "{:,.0f}"))
    for level in levels[1:]:
        speedup = statistics.median(rates[level]) / base
        if level == cat.default_read_concurrency:
            report.add(
                f"read speed-up c={level} (default) vs c=1",
                f"{speedup:.2f}x",
                f">= {READ_SPEEDUP_TARGET:g}x",
                speedup >= READ_SPEEDUP_TARGET,
            )
        else:
            report.add(f"read speed-up c={level} (max) vs c=1", f"{speedup:.2f}x")


def bench_read_memory(plan: Plan, report: Report) -> None:
    small, large = plan.read_memory
    # Pinned at the maximum, the most pages "auto" (the default) can have in flight: both sizes
    # reach that bound, which is what "flat" promises (a small run under "auto" stops before
    # its limit has grown, so the ratio would measure the ramp, not the memory).
    concurrency = catalogue().max_read_concurrency
    progress(
        f"read memory: stream {small} vs {large} {RESOURCE}, page_size {plan.page_size}, "
        f"concurrency {concurrency}, {plan.read_memory_repeats} repeats"
    )
    host = Host(plugins=[nexla_procurify.plugin])
    peaks: dict[int, list[int]] = {small: [], large: []}
    with (
        SandboxProcess({RESOURCE: small}, plan.memory_latency) as sandbox_small,
        SandboxProcess({RESOURCE: large}, plan.memory_latency) as sandbox_large,
    ):
        sessions = {small: connect(host, sandbox_small), large: connect(host, sandbox_large)}
        try:
            read_all(host, sessions[small], concurrency=concurrency, page_size=plan.page_size)
            for _ in range(plan.read_memory_repeats):
                for size in (small, large):
                    peak, count = peak_memory(
                        lambda size=size: read_all(
                            host, sessions[size], concurrency=concurrency, page_size=plan.page_size
                        )
                    )
                    if count != size:
                        raise RuntimeError(f"read {count} records, expected {size}")
                    peaks[size].append(peak)
        finally:
            for session in sessions.values():
                session.close()
    _memory_rows(report, "read", peaks, small, large)


def bench_write_throughput(plan: Plan, report: Report, tags: Tags) -> None:
    default = catalogue().default_write_concurrency
    levels: list[int | str] = [1, default]
    progress(
        f"write throughput: create {plan.write_records} {RESOURCE}, latency "
        f"{plan.latency * 1000:.0f} ms, concurrency {levels}, {plan.repeats} repeats"
    )
    host = Host(plugins=[nexla_procurify.plugin])
    rates: dict[int | str, list[float]] = {level: [] for level in levels}
    with SandboxProcess({RESOURCE: 25}, plan.latency) as sandbox:
        session = connect(host, sandbox)
        try:
            write_all(host, session, count=8, concurrency=default, tag=tags())
            for _ in range(plan.repeats):
                for level in levels:
                    seconds, statuses = timed(
                        lambda level=level: write_all(
                            host, session, count=plan.write_records, concurrency=level, tag=tags()
                        )
                    )
                    _check_created(statuses, plan.write_records)
                    rates[level].append(plan.write_records / seconds)
        finally:
            session.close()
    report.add("write c=1 (sequential) records/s", _spread(rates[1], "{:,.1f}"))
    report.add(f"write c={default} (default) records/s", _spread(rates[default], "{:,.1f}"))
    speedup = statistics.median(rates[default]) / statistics.median(rates[1])
    report.add(
        f"write speed-up c={default} (default) vs c=1",
        f"{speedup:.2f}x",
        f">= {WRITE_SPEEDUP_TARGET:g}x",
        speedup >= WRITE_SPEEDUP_TARGET,
    )


def bench_write_memory(plan: Plan, report: Report, tags: Tags) -> None:
    small, large = plan.write_memory
    concurrency = catalogue().max_write_concurrency  # the bound "auto" can reach, as for reads
    progress(
        f"write memory: create {small} vs {large} {RESOURCE} from a generator, "
        f"concurrency {concurrency}, {plan.write_memory_repeats} repeats"
    )
    host = Host(plugins=[nexla_procurify.plugin])
    peaks: dict[int, list[int]] = {small: [], large: []}
    with SandboxProcess({RESOURCE: 25}, plan.memory_latency) as sandbox:
        session = connect(host, sandbox)
        try:
            write_all(host, session, count=8, concurrency=concurrency, tag=tags())
            for _ in range(plan.write_memory_repeats):
                for size in (small, large):
                    peak, statuses = peak_memory(
                        lambda size=size: write_all(
                            host, session, count=size, concurrency=concurrency, tag=tags()
                        )
                    )
                    _check_created(statuses, size)
                    peaks[size].append(peak)
        finally:
            session.close()
    _memory_rows(report, "write", peaks, small, large)


def bench_auto(plan: Plan, report: Report) -> None:
    """``concurrency: "auto"`` against the best fixed concurrency, unlimited sandbox at 100 ms."""
    records = plan.auto_pages * plan.page_size
    levels: list[int | str] = [*plan.auto_levels, AUTO]
    progress(
        f"auto vs fixed: {plan.auto_pages} pages of {plan.page_size} {RESOURCE}, latency "
        f"{AUTO_LATENCY * 1000:.0f} ms, concurrency {levels}, {plan.repeats} repeats"
    )
    host = Host(plugins=[nexla_procurify.plugin])
    rates: dict[int | str, list[float]] = {level: [] for level in levels}
    with SandboxProcess({RESOURCE: records}, AUTO_LATENCY) as sandbox:
        session = connect(host, sandbox)
        try:
            read_all(host, session, concurrency=AUTO, page_size=plan.page_size)
            for _ in range(plan.repeats):
                for level in levels:
                    seconds, count = timed(
                        lambda level=level: read_all(
                            host, session, concurrency=level, page_size=plan.page_size
                        )
                    )
                    if count != records:
                        raise RuntimeError(f"read {count} records, expected {records}")
                    rates[level].append(plan.auto_pages / seconds)
        finally:
            session.close()
    for level in levels:
        report.add(f"auto group: read c={level} pages/s", _spread(rates[level], "{:,.1f}"))
    best = max(plan.auto_levels, key=lambda level: statistics.median(rates[level]))
    share = statistics.median(rates[AUTO]) / statistics.median(rates[best])
    report.add(
        f"auto vs best fixed (c={best}), {AUTO_LATENCY * 1000:.0f} ms",
        f"{share:.0%}",
        f">= {AUTO_SHARE_TARGET:.0%}",
        share >= AUTO_SHARE_TARGET,
    )


class RetryCounter(logging.Handler):
    """Counts the connector's retries by status, from its ``nexla_procurify.http`` log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.statuses: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Procurify answered") and record.args:
            self.statuses[str(record.args[0])] += 1


def bench_auto_limited(plan: Plan, report: Report) -> None:
    """``concurrency: "auto"`` against a sandbox limited to ``LIMITED_RPS`` requests a second."""
    records = plan.limited_pages * plan.page_size
    progress(
        f"auto vs a rate limit: {plan.limited_pages} pages of {plan.page_size} {RESOURCE}, "
        f"sandbox limited to {LIMITED_RPS:g} requests/s, latency {plan.latency * 1000:.0f} ms, "
        "1 run"
    )
    host = Host(plugins=[nexla_procurify.plugin])
    counter = RetryCounter()
    logger = logging.getLogger("nexla_procurify.http")
    with SandboxProcess({RESOURCE: records}, plan.latency, LIMITED_RPS) as sandbox:
        session = connect(host, sandbox)
        time.sleep(1.0)  # the token exchange's request is back in the sandbox's allowance
        logger.addHandler(counter)
        try:
            seconds, count = timed(
                lambda: read_all(host, session, concurrency=AUTO, page_size=plan.page_size)
            )
        finally:
            logger.removeHandler(counter)
            session.close()
    if count != records:
        raise RuntimeError(f"read {count} records, expected {records}")
    pages_per_second = plan.limited_pages / seconds
    limited = counter.statuses["429"]
    requests_sent = plan.limited_pages + sum(counter.statuses.values())
    share = pages_per_second / LIMITED_RPS
    report.add(
        f"auto, {LIMITED_RPS:g} req/s sandbox: pages/s",
        f"{pages_per_second:.2f} ({share:.0%} of {LIMITED_RPS:g})",
        f">= {LIMITED_SHARE_TARGET:.0%}",
        share >= LIMITED_SHARE_TARGET,
    )
    report.add(
        f"auto, {LIMITED_RPS:g} req/s sandbox: answered 429",
        f"{limited} of {requests_sent} ({limited / requests_sent:.1%})",
        f"<= {LIMITED_429_TARGET:.0%}",
        limited / requests_sent <= LIMITED_429_TARGET,
    )


def _check_created(statuses: Counter[str], expected: int) -> None:
    if statuses.get("created", 0) != expected:
        raise RuntimeError(f"expected {expected} records created, got {dict(statuses)}")


def _memory_rows(
    report: Report, what: str, peaks: dict[int, list[int]], small: int, large: int
) -> None:
    for size in (small, large):
        report.add(
            f"{what} peak memory, {size:,} records",
            _spread([p / MiB for p in peaks[size]], "{:.2f}") + " MiB",
        )
    ratio = statistics.median(peaks[large]) / statistics.median(peaks[small])
    report.add(
        f"{what} memory ratio {large:,} / {small:,} records",
        f"{ratio:.2f}",
        f"< {MEMORY_RATIO_TARGET:g}",
        ratio < MEMORY_RATIO_TARGET,
    )


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller smoke run (< 30 s)")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (median is kept)")
    parser.add_argument(
        "--only",
        choices=("read", "read-memory", "write", "write-memory", "auto", "auto-limited"),
        action="append",
        help="run only these benchmarks (repeatable)",
    )
    parser.add_argument(
        "--serve-sandbox", nargs=2, metavar=("SPEC", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve_sandbox:
        return serve_sandbox(*args.serve_sandbox)

    os.environ[LOOPBACK_ENV] = "1"
    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = dataclasses.replace(
            plan,
            repeats=args.repeats,
            read_memory_repeats=args.repeats,
            write_memory_repeats=args.repeats,
        )
    only = set(
        args.only or ("read", "read-memory", "write", "write-memory", "auto", "auto-limited")
    )
    report = Report()
    tags = Tags()
    started = time.perf_counter()
    progress(
        f"nexla-procurify benchmarks ({'quick' if args.quick else 'full'}), "
        f"{datetime.date.today()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    try:
        benches: dict[str, Callable[[], None]] = {
            "read": lambda: bench_read_throughput(plan, report),
            "read-memory": lambda: bench_read_memory(plan, report),
            "write": lambda: bench_write_throughput(plan, report, tags),
            "write-memory": lambda: bench_write_memory(plan, report, tags),
            "auto": lambda: bench_auto(plan, report),
            "auto-limited": lambda: bench_auto_limited(plan, report),
        }
        for name, bench in benches.items():
            if name in only:
                seconds, _ = timed(bench)
                progress(f"  ({name}: {seconds:.1f} s)")
    except Exception as error:  # a measurement that could not be made
        print(report.table() if report.rows else "", flush=True)
        print(f"ERROR: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print()
    print(
        f"nexla-procurify benchmarks, {datetime.date.today()}, "
        f"{'quick' if args.quick else 'full'} run, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {elapsed:.0f} s"
    )
    print(
        f"median (min..max) of {plan.repeats} interleaved runs; memory: "
        f"{plan.read_memory_repeats} read and {plan.write_memory_repeats} write run(s); "
        f"sandbox latency {plan.latency * 1000:.0f} ms per request for throughput"
    )
    print(report.table())
    print()
    print("FAIL: a target was missed." if report.failed else "PASS: every target was met.")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
