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
from functools import partial
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
    account_largest: int  # whole-account sync: records of its largest resource (order_items)
    account_repeats: int  # whole-account sync and the Singer SDK tap: interleaved runs
    account_memory: tuple[int, int]  # whole-account memory: records of its largest, small, large
    bare_pages: int  # zero latency: pages of ``bare_page_size`` records, connector vs requests
    bare_page_size: int
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
    account_largest=20_000,
    account_repeats=3,
    account_memory=(5_000, 50_000),
    bare_pages=100,
    bare_page_size=500,
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
    account_repeats=1,
    account_memory=(4_000, 40_000),
    bare_pages=20,
    auto_pages=150,
    auto_levels=(8, 32),
    limited_pages=100,
)

READ_SPEEDUP_TARGET = 3.0
WRITE_SPEEDUP_TARGET = 2.5
MEMORY_RATIO_TARGET = 1.5
ACCOUNT_VS_LARGEST_TARGET = 1.5  # whole-account sync time / its largest resource's alone
ACCOUNT_VS_SDK_TARGET = 4.0  # Singer SDK tap time / whole-account sync time
BARE_TARGET = 1.0  # connector speed / a bare sequential requests loop's, no latency
ACCOUNT_LARGEST = "order_items"  # no detail stream reads its records again
AUTO = "auto"  # the default concurrency of reads and writes
AUTO_LATENCY = 0.100  # the "auto" group's sandbox latency (seconds per request)
AUTO_SHARE_TARGET = 0.90  # auto >= 90 % of the best fixed concurrency
LIMITED_RPS = 10.0  # the rate-limited sandbox's requests per second
LIMITED_SHARE_TARGET = 0.90  # auto >= 90 % of LIMITED_RPS pages per second
LIMITED_429_TARGET = 0.05  # at most 5 % of the requests answered 429
# The benchmark groups, in the order a full run measures them (``--only`` picks some).
GROUPS = (
    "read",
    "read-memory",
    "write",
    "write-memory",
    "auto",
    "auto-limited",
    "account",
    "account-memory",
    "bare",
)


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


def read_all(host: Host, session: Any, *, concurrency: int | str | None, page_size: int) -> int:
    """Stream every vendor through ``read_source``, keeping nothing; the number of records.
    ``concurrency`` ``None``: the configuration leaves it to its default."""
    config: dict[str, Any] = {"resource": RESOURCE, "page_size": page_size}
    if concurrency is not None:
        config["concurrency"] = concurrency
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


def interleaved_peaks(
    sizes: tuple[int, int],
    repeats: int,
    action: Callable[[int], T],
    check: Callable[[T, int], None],
) -> dict[int, list[int]]:
    """The peak memory of ``action(size)`` for each of ``sizes``, ``repeats`` times, the sizes
    interleaved; ``check(outcome, size)`` raises when an outcome is not what was asked for."""
    peaks: dict[int, list[int]] = {size: [] for size in sizes}
    for _ in range(repeats):
        for size in sizes:
            peak, outcome = peak_memory(partial(action, size))
            check(outcome, size)
            peaks[size].append(peak)
    return peaks


def read_memory_peaks(
    plan: Plan, sizes: tuple[int, int], resource: str, read: Callable[[Host, Any], int]
) -> dict[int, list[int]]:
    """The peaks of ``read`` (the records of ``resource`` it read) against one sandbox per size,
    each holding that many records of ``resource``, after one unmeasured warm-up read."""
    host = Host(plugins=[nexla_procurify.plugin])
    small, large = sizes
    with (
        SandboxProcess({resource: small}, plan.memory_latency) as sandbox_small,
        SandboxProcess({resource: large}, plan.memory_latency) as sandbox_large,
    ):
        sessions = {small: connect(host, sandbox_small), large: connect(host, sandbox_large)}

        def check(count: int, size: int) -> None:
            if count != size:
                raise RuntimeError(f"read {count} {resource}, expected {size}")

        try:
            read(host, sessions[small])
            return interleaved_peaks(
                sizes,
                plan.read_memory_repeats,
                lambda size: read(host, sessions[size]),
                check,
            )
        finally:
            for session in sessions.values():
                session.close()


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
                        partial(
                            read_all, host, session, concurrency=level, page_size=plan.page_size
                        )
                    )
                    if count != plan.read_records:
                        raise RuntimeError(f"read {count} records, expected {plan.read_records}")
                    rates[level].append(plan.read_records / seconds)
        finally:
            session.close()
    base = statistics.median(rates[1])
    for level in levels:
        labels: dict[int | str, str] = {
            1: "sequential",
            cat.default_read_concurrency: "default",
            cat.max_read_concurrency: "max",
        }
        label = labels[level]
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
    read = partial(read_all, concurrency=concurrency, page_size=plan.page_size)
    peaks = read_memory_peaks(plan, plan.read_memory, RESOURCE, read)
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
                        partial(
                            write_all,
                            host,
                            session,
                            count=plan.write_records,
                            concurrency=level,
                            tag=tags(),
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
    with SandboxProcess({RESOURCE: 25}, plan.memory_latency) as sandbox:
        session = connect(host, sandbox)
        try:
            write_all(host, session, count=8, concurrency=concurrency, tag=tags())
            peaks = interleaved_peaks(
                plan.write_memory,
                plan.write_memory_repeats,
                lambda size: write_all(
                    host, session, count=size, concurrency=concurrency, tag=tags()
                ),
                _check_created,
            )
        finally:
            session.close()
    _memory_rows(report, "write", peaks, small, large)


# ------------------------------------------------------------------------------ a whole account


def account_configs(concurrency: int | None = None) -> dict[str, dict[str, Any]]:
    """Every readable resource, each with its default configuration (or ``concurrency``)."""
    pinned = {} if concurrency is None else {"concurrency": concurrency}
    return {name: {"resource": name, **pinned} for name in catalogue().names("source")}


def read_account(host: Host, session: Any, concurrency: int | None = None) -> Counter[str]:
    """Every resource through ``Host.read_many`` (side by side, one request budget); the
    records of each stream."""
    counts: Counter[str] = Counter()
    for message in host.read_many(CONNECTOR, session, account_configs(concurrency)):
        if isinstance(message, Record):
            counts[message.stream] += 1
    return counts


def read_one(host: Host, session: Any, resource: str) -> int:
    """One resource through ``read_source`` with its default configuration."""
    return sum(
        isinstance(message, Record)
        for message in host.read(CONNECTOR, session, {"resource": resource}, None)
    )


SDK_VENV = Path(tempfile.gettempdir()) / "nexla-procurify-bench-singer-sdk"
SDK_TAP = Path(__file__).resolve().parent / "singer_sdk_tap.py"


def singer_sdk_python() -> Path | str:
    """The interpreter of a virtual environment holding ``singer-sdk`` (made once, under the
    temporary directory), or why there is none."""
    python = SDK_VENV / "bin" / "python"
    if python.exists():
        return python
    progress(f"  installing singer-sdk in {SDK_VENV} (once)")
    try:
        subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "venv", str(SDK_VENV)], check=True, capture_output=True
        )
        subprocess.run(  # noqa: S603 - the venv's pip
            [str(python), "-m", "pip", "install", "-q", "singer-sdk"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as error:
        subprocess.run(["rm", "-rf", str(SDK_VENV)], check=False)  # noqa: S603, S607
        return f"singer-sdk could not be installed (is PyPI reachable?): {type(error).__name__}"
    return python


def sdk_streams(page_size: int) -> list[dict[str, Any]]:
    """The account's resources as the Singer SDK tap reads them: the same paths, query,
    page size and (flattened) schemas as the connector's."""
    from nexla_procurify.source import schema_message

    cat = catalogue()
    streams = []
    for name in cat.names("source"):
        resource = cat.resources[name]
        defaults = {param.name: param.default for param in resource.path_params}
        params: dict[str, Any] = {}
        if resource.pagination == "page":
            params["page_size"] = page_size
        if resource.order_by:
            params["order_by"] = resource.order_by
        message = schema_message(resource)
        spec: dict[str, Any] = {
            "name": name,
            "path": resource.list_path(defaults),
            "params": params,
            "schema": dict(message.schema),
            "key_properties": list(message.key_properties),
            "pagination": resource.pagination,
        }
        if resource.detail is not None:
            # The usual way: a child stream of the list, one detail GET per parent record.
            spec.update(
                path=resource.detail.path,
                params={},
                pagination="single",
                parent=resource.detail.of,
                id_field=resource.detail.id_field,
            )
        streams.append(spec)
    return streams


def run_sdk_tap(python: Path, session: Any, base_url: str, page_size: int) -> Counter[str]:
    """The Singer SDK tap over every resource; the RECORD messages of each stream."""
    token = session.tokens.token().value.reveal()
    config = {"base_url": base_url, "token": token, "streams": sdk_streams(page_size)}
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="procurify-bench-sdk-") as private:
        path = Path(private) / "config.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(config, handle)
        process = subprocess.Popen(  # noqa: S603 - the benchmark's own venv and script
            [str(python), str(SDK_TAP), "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            if '"RECORD"' in line[:40]:
                counts[json.loads(line)["stream"]] += 1
        if process.wait() != 0:
            raise RuntimeError(f"the Singer SDK tap ended with status {process.returncode}")
    return counts


def bench_account(plan: Plan, report: Report) -> None:
    cat = catalogue()
    records = {ACCOUNT_LARGEST: plan.account_largest}
    progress(
        f"whole account: every resource ({len(cat.names('source'))}) at the sandbox's default "
        f"size, {ACCOUNT_LARGEST} {plan.account_largest}; latency {plan.latency * 1000:.0f} "
        f"ms, default concurrency, {plan.account_repeats} repeats"
    )
    python = singer_sdk_python()
    host = Host(plugins=[nexla_procurify.plugin])
    times: dict[str, list[float]] = {"account": [], "largest": [], "sdk": []}
    with SandboxProcess(records, plan.latency) as sandbox:
        session = connect(host, sandbox)
        try:
            expected = read_account(host, session)  # untimed warm-up, and the counts
            if expected[ACCOUNT_LARGEST] != plan.account_largest:
                raise RuntimeError(f"read {expected[ACCOUNT_LARGEST]} {ACCOUNT_LARGEST}")
            for _ in range(plan.account_repeats):
                seconds, counts = timed(lambda: read_account(host, session))
                _check_counts("the whole-account sync", counts, expected)
                times["account"].append(seconds)
                seconds, count = timed(lambda: read_one(host, session, ACCOUNT_LARGEST))
                if count != plan.account_largest:
                    raise RuntimeError(f"read {count} {ACCOUNT_LARGEST} alone")
                times["largest"].append(seconds)
                if isinstance(python, Path):
                    seconds, counts = timed(
                        lambda: run_sdk_tap(
                            python, session, sandbox.credential["base_url"], cat.default_page_size
                        )
                    )
                    _check_counts("the Singer SDK tap", counts, expected)
                    times["sdk"].append(seconds)
        finally:
            session.close()
    account = statistics.median(times["account"])
    largest = statistics.median(times["largest"])
    report.add(
        f"whole account ({len(expected)} streams) s, read_many",
        _spread(times["account"], "{:.2f}"),
    )
    report.add(f"largest resource alone ({ACCOUNT_LARGEST}) s", _spread(times["largest"], "{:.2f}"))
    report.add(
        "whole account / largest resource alone",
        f"{account / largest:.2f}x",
        f"<= {ACCOUNT_VS_LARGEST_TARGET:g}x",
        account / largest <= ACCOUNT_VS_LARGEST_TARGET,
    )
    if not isinstance(python, Path):
        report.notes.append(f"Singer SDK comparison skipped: {python}")
        progress(f"  SKIPPED the Singer SDK comparison: {python}")
        return
    sdk = statistics.median(times["sdk"])
    report.add(
        "Singer SDK tap, same resources one after another s", _spread(times["sdk"], "{:.2f}")
    )
    report.add(
        "Singer SDK tap / whole account",
        f"{sdk / account:.2f}x",
        f">= {ACCOUNT_VS_SDK_TARGET:g}x",
        sdk / account >= ACCOUNT_VS_SDK_TARGET,
    )


def bench_account_memory(plan: Plan, report: Report) -> None:
    small, large = plan.account_memory
    # Pinned at the maximum, as the read memory is (see bench_read_memory): the bound "auto"
    # can reach, so that both sizes are measured at it rather than somewhere on the ramp.
    concurrency = catalogue().max_read_concurrency
    progress(
        f"whole-account memory: every resource, {ACCOUNT_LARGEST} {small} vs {large}, "
        f"no latency, concurrency {concurrency}, {plan.read_memory_repeats} repeats"
    )

    def read(host: Host, session: Any) -> int:
        return read_account(host, session, concurrency)[ACCOUNT_LARGEST]

    peaks = read_memory_peaks(plan, plan.account_memory, ACCOUNT_LARGEST, read)
    _memory_rows(report, "whole-account", peaks, small, large)


def _check_counts(what: str, counts: Counter[str], expected: Counter[str]) -> None:
    if counts != expected:
        wrong = {name: counts[name] for name in expected if counts[name] != expected[name]}
        raise RuntimeError(f"{what} read other counts than expected: {wrong}")


# ------------------------------------------------------------------------------ no latency


def bare_loop(sandbox: SandboxProcess, session: Any, pages: int, page_size: int) -> int:
    """What a user would write: one ``requests`` session, the pages one after the other,
    ``response.json()``; the number of records."""
    import requests

    token = session.tokens.token().value.reveal()
    headers = {"Authorization": f"Bearer {token}", "X-Procurify-Client": "api"}
    url = sandbox.credential["base_url"] + catalogue().resources[RESOURCE].list_path({})
    count = 0
    with requests.Session() as bare:
        for page in range(1, pages + 1):
            params: dict[str, str | int] = {
                "page": page,
                "page_size": page_size,
                "order_by": "id",
            }
            response = bare.get(url, params=params, headers=headers, timeout=30)
            response.raise_for_status()
            count += len(response.json()["data"])
    return count


def bench_bare(plan: Plan, report: Report) -> None:
    total = plan.bare_pages * plan.bare_page_size
    progress(
        f"no latency: {plan.bare_pages} pages of {plan.bare_page_size} {RESOURCE}, the "
        f"connector (default concurrency) vs a bare sequential requests loop, "
        f"{plan.repeats} repeats"
    )
    host = Host(plugins=[nexla_procurify.plugin])
    rates: dict[str, list[float]] = {"connector": [], "bare": []}
    with SandboxProcess({RESOURCE: total}, 0.0) as sandbox:
        session = connect(host, sandbox)
        try:
            read_all(host, session, concurrency=None, page_size=plan.bare_page_size)
            bare_loop(sandbox, session, plan.bare_pages, plan.bare_page_size)
            for _ in range(plan.repeats):
                seconds, count = timed(
                    lambda: read_all(host, session, concurrency=None, page_size=plan.bare_page_size)
                )
                if count != total:
                    raise RuntimeError(f"read {count} records, expected {total}")
                rates["connector"].append(total / seconds)
                seconds, count = timed(
                    lambda: bare_loop(sandbox, session, plan.bare_pages, plan.bare_page_size)
                )
                if count != total:
                    raise RuntimeError(f"the bare loop read {count} records, expected {total}")
                rates["bare"].append(total / seconds)
        finally:
            session.close()
    report.add("no latency: bare requests loop records/s", _spread(rates["bare"], "{:,.0f}"))
    report.add("no latency: connector records/s", _spread(rates["connector"], "{:,.0f}"))
    ratio = statistics.median(rates["connector"]) / statistics.median(rates["bare"])
    report.add(
        "no latency: connector vs bare requests loop",
        f"{ratio:.2f}x",
        f">= {BARE_TARGET:g}x",
        ratio >= BARE_TARGET,
    )


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
                        partial(
                            read_all, host, session, concurrency=level, page_size=plan.page_size
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
        args = record.args
        if (
            record.getMessage().startswith("Procurify answered")
            and isinstance(args, tuple)
            and args
        ):
            self.statuses[str(args[0])] += 1


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
        choices=GROUPS,
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
            account_repeats=args.repeats,
        )
    only = set(args.only or GROUPS)
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
            "account": lambda: bench_account(plan, report),
            "account-memory": lambda: bench_account_memory(plan, report),
            "bare": lambda: bench_bare(plan, report),
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
    for note in report.notes:
        print(note)
    print()
    print("FAIL: a target was missed." if report.failed else "PASS: every target was met.")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
