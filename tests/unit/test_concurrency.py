"""The controller behind ``concurrency: "auto"`` (pure: measurements and clock readings handed
to it), the gate requests start under, and the session that uses them."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import Future
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shared import FakeClock

from nexla_procurify import destination, source
from nexla_procurify.cli import arguments
from nexla_procurify.concurrency import (
    MAX_HOLD,
    MAX_SPACING,
    Controller,
    ControllerSettings,
    Gate,
    result_of,
)


def _controller(maximum: int = 32, **changes: float) -> Controller:
    return Controller(ControllerSettings(maximum=maximum, **changes))  # type: ignore[arg-type]


def _answers(
    controller: Controller, count: int, *, start: float, latency: float, saturated: bool = True
) -> float:
    """``count`` answers of ``latency``, one every ``latency / limit`` seconds; the time after."""
    now = start
    for _ in range(count):
        now += latency / controller.limit
        controller.on_answer(now, latency, saturated=saturated)
    return now


@pytest.mark.parametrize(
    ("maximum", "initial", "expected"),
    [(32, 2, 2), (1, 2, 1), (16, 4, 4), (3, 8, 3)],
)
def test_it_starts_modestly_and_within_the_maximum(
    maximum: int, initial: int, expected: int
) -> None:
    controller = Controller(ControllerSettings(maximum=maximum, initial=initial))
    assert controller.limit == expected
    assert controller.spacing() == 0.0  # no latency known yet: nothing to pace by


def test_settings_refuse_a_minimum_above_the_maximum() -> None:
    with pytest.raises(ValueError, match="minimum"):
        ControllerSettings(maximum=2, minimum=3)


@pytest.mark.parametrize(
    ("answers", "saturated", "expected"),
    [
        (1, True, 3),  # slow start: one more per clean answer with the limit full
        (6, True, 8),
        (100, True, 32),  # never above the hard maximum
        (100, False, 2),  # the limit held nothing back: throughput cannot grow by raising it
    ],
)
def test_clean_answers_grow_the_limit_while_it_holds_requests_back(
    answers: int, saturated: bool, expected: int
) -> None:
    controller = _controller()
    _answers(controller, answers, start=0.0, latency=0.1, saturated=saturated)
    assert controller.limit == expected


def test_a_429_halves_the_limit_once_per_round_trip_and_paces_at_the_rate_delivered() -> None:
    controller = _controller()
    now = _answers(controller, 14, start=0.0, latency=0.1)  # 16 at once by now
    assert controller.limit == 16
    delivered = 14  # all within the last second
    controller.on_throttled(now)
    assert controller.limit == 8
    assert not controller.slow_start
    assert controller.rate == pytest.approx(delivered * 0.95)
    assert controller.spacing() == pytest.approx(1 / (delivered * 0.95))
    controller.on_throttled(now + 0.01)  # the same excess: one signal
    controller.on_throttled(now + 0.5)  # its retries come back within the window: still one
    assert controller.limit == 8
    controller.on_throttled(now + 1.1)  # a window later: a new signal
    assert controller.limit == 4


def test_climbing_latency_backs_off_and_growth_becomes_additive() -> None:
    controller = _controller()
    now = _answers(controller, 8, start=0.0, latency=0.1)
    assert controller.limit == 10
    for _ in range(5):  # the server is queueing: latency twenty times its baseline
        now += 0.05
        controller.on_answer(now, 2.0, saturated=True)
    assert controller.limit < 10
    assert not controller.slow_start
    before = controller.limit
    for _ in range(40):  # latency back to its baseline: about three more per round trip
        now += 0.05
        controller.on_answer(now, 0.1, saturated=True)
    assert before < controller.limit < before + 15


def test_a_paced_rate_grows_back_after_clean_windows_only_as_far_as_answers_keep_up() -> None:
    controller = _controller(maximum=4)
    now = _answers(controller, 2, start=0.0, latency=0.1)
    controller.on_throttled(now)
    assert controller.rate == pytest.approx(1.9)  # 2 answers in the last second, less 5 %
    assert not controller.rate_found
    now += 1.5
    controller.on_answer(now, 0.1, saturated=False)  # 1 answer a second: nothing to probe
    assert controller.rate == pytest.approx(1.9)
    for _ in range(42):  # 20 answers a second for 2 seconds: until a 429 on a paced rate,
        now += 0.05  # 15 % more per clean window (rate slow start)
        controller.on_answer(now, 0.1, saturated=False)
    assert controller.rate == pytest.approx(1.9 * 1.15**2)
    now += 1.0
    controller.on_throttled(now)  # the paced rate found the limit: 30 % less than delivered
    assert controller.rate_found
    assert controller.rate == pytest.approx(1.9 * 1.15**2 * 0.7)
    found = controller.rate
    for _ in range(42):  # from now on, 2 % more per clean window
        now += 0.05
        controller.on_answer(now, 0.1, saturated=False)
    assert controller.rate == pytest.approx(found * 1.02**2)
    for _ in range(10000):  # 50 answers a second: more than the maximum at baseline latency
        now += 0.02
        controller.on_answer(now, 0.1, saturated=False)
    assert controller.rate is None  # the maximum at baseline latency is slower than the pace


def test_a_first_pace_measured_early_grows_back_fast_to_the_rate_allowed() -> None:
    """The first 429 comes within a read's first second, so the first pace is measured over
    part of a window: it must not take the whole read to grow back."""
    controller = _controller()
    now = _answers(controller, 7, start=0.0, latency=0.03)  # a burst, in about 0.1 s
    controller.on_throttled(now)
    first = controller.rate
    assert first is not None
    assert first < 7
    for _ in range(50):  # five seconds of answers at 10 a second, each window clean
        now += 0.1
        controller.on_answer(now, 0.03, saturated=False)
    assert controller.rate is not None
    assert controller.rate >= 10


def test_answers_retried_on_the_way_are_no_latency_sample() -> None:
    controller = _controller()
    controller.on_answer(1.0, None, saturated=True)
    assert controller.baseline is None
    assert controller.limit == 3


def test_the_spacing_of_a_very_low_rate_is_bounded() -> None:
    controller = _controller()
    for step in range(50):  # nothing delivered, 429 after 429: the rate falls to its floor
        controller.on_throttled(float(step))
    assert controller.limit == 1
    assert controller.spacing() <= MAX_SPACING


@dataclass(frozen=True)
class _Event:
    gap: float
    latency: float | None
    saturated: bool
    throttled: bool


_events = st.lists(
    st.builds(
        _Event,
        gap=st.floats(min_value=0.0, max_value=3.0),
        latency=st.none() | st.floats(min_value=0.0, max_value=5.0),
        saturated=st.booleans(),
        throttled=st.booleans(),
    ),
    max_size=200,
)


@given(
    maximum=st.integers(min_value=1, max_value=64),
    initial=st.integers(min_value=1, max_value=64),
    events=_events,
)
def test_the_limit_stays_bounded_backs_off_on_429_and_grows_only_when_it_binds(
    maximum: int, initial: int, events: list[_Event]
) -> None:
    controller = Controller(ControllerSettings(maximum=maximum, initial=initial))
    now = 0.0
    for event in events:
        now += event.gap
        before = controller.limit
        if event.throttled:
            controller.on_throttled(now)
            assert controller.limit <= before
        else:
            controller.on_answer(now, event.latency, saturated=event.saturated)
            if not event.saturated:
                assert controller.limit <= before
        assert 1 <= controller.limit <= maximum
        assert 0.0 <= controller.spacing() <= MAX_SPACING
        assert controller.rate is None or controller.rate >= 0.1


def test_the_gate_paces_starts_and_tells_the_controller_what_happened(clock: FakeClock) -> None:
    controller = _controller()
    gate = Gate(controller, clock=clock, sleep=clock.sleep)
    with gate.slot() as slot:
        assert gate.in_flight == 1
        assert slot.saturated  # 1 of 2: the limit is in use
        clock.now += 0.1
    assert controller.baseline == pytest.approx(0.1)
    assert controller.limit == 3
    with gate.slot() as slot:
        assert not slot.saturated  # 1 of 3: more room would not be used
        clock.now += 0.1
    assert clock.sleeps == []  # the first start set no pace yet
    assert controller.limit == 3
    with gate.slot(), gate.slot() as second:
        assert second.saturated
        clock.now += 0.1
    assert clock.sleeps  # the second start was spaced after the first
    assert controller.limit == 4
    with gate.slot() as slot:
        gate.retrying(slot, throttled=True)
    assert controller.limit == 2
    assert controller.rate is not None
    assert gate.in_flight == 0


def _gate_with_baseline(clock: FakeClock) -> tuple[Controller, Gate]:
    """A gate whose controller knows the baseline latency (0.1 s), with room for a few
    requests after a 429 halves its limit."""
    controller = _controller(initial=8)
    gate = Gate(controller, clock=clock, sleep=clock.sleep)
    with gate.slot():
        clock.now += 0.1  # a first answer: the baseline latency
    return controller, gate


def test_a_429s_retry_after_holds_back_every_start_but_its_own_backoff_does_not(
    clock: FakeClock,
) -> None:
    _, gate = _gate_with_baseline(clock)
    with gate.slot() as refused:
        clock.now += 0.1
        throttled_at = clock.now
        # The client backs off 5 s (its own growing wait); the server asked for 0.5 s.
        gate.retrying(refused, throttled=True, delay=5.0, retry_after=0.5)
        assert clock.now == throttled_at  # nothing more than the caller's own wait
        with gate.slot():  # another request of the run, at once
            began = clock.now
    assert throttled_at + 0.5 <= began < throttled_at + 5.0


def test_the_retries_of_one_burst_of_429s_leave_one_by_one(clock: FakeClock) -> None:
    controller, gate = _gate_with_baseline(clock)
    with gate.slot() as first, gate.slot() as second:
        clock.now += 0.1
        throttled_at = clock.now
        gate.retrying(first, throttled=True, delay=1.0, retry_after=1.0)
        assert clock.now == throttled_at  # the first retry needs no wait beyond its delay
        gate.retrying(second, throttled=True, delay=1.0, retry_after=1.0)
        spacing = controller.spacing()
        assert 0 < spacing <= MAX_SPACING
        # The second retry leaves one spacing after the first one.
        assert clock.now == pytest.approx(throttled_at + spacing)


def test_a_start_reserved_before_a_429_waits_out_its_retry_after(clock: FakeClock) -> None:
    controller, _ = _gate_with_baseline(clock)
    throttled = False

    def sleep(seconds: float) -> None:  # while this start sleeps, another request gets a 429
        nonlocal throttled
        if not throttled:
            throttled = True
            gate.retrying(other, throttled=True, delay=2.0, retry_after=2.0)
        clock.sleep(seconds)

    gate = Gate(controller, clock=clock, sleep=sleep)
    with gate.slot() as other:
        held = clock.now
        with gate.slot():
            began = clock.now
    assert throttled
    assert began >= held + 2.0


def test_a_final_429_is_no_answer_to_grow_on_and_holds_the_others(clock: FakeClock) -> None:
    controller, gate = _gate_with_baseline(clock)
    before = controller.limit
    with gate.slot() as refused:
        clock.now += 0.1
        gate.throttled(refused, retry_after=3.0)
        refused_at = clock.now
    assert controller.limit < before
    assert not controller.slow_start
    with gate.slot():
        began = clock.now
    assert began >= refused_at + 3.0


def test_a_retry_after_of_an_hour_holds_the_others_no_longer_than_a_request_budget(
    clock: FakeClock,
) -> None:
    _, gate = _gate_with_baseline(clock)
    with gate.slot() as refused:
        gate.throttled(refused, retry_after=3600.0)
        refused_at = clock.now
    with gate.slot():
        began = clock.now
    assert refused_at + MAX_HOLD <= began <= refused_at + MAX_HOLD + MAX_SPACING


def test_an_interrupt_while_a_start_waits_frees_its_place(clock: FakeClock) -> None:
    controller = _controller(initial=8)  # room for a second request after the 429 halves it

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    gate = Gate(controller, clock=clock, sleep=interrupted)
    with gate.slot() as first:
        gate.retrying(first, throttled=True, delay=0.0, retry_after=1.0)
        with pytest.raises(KeyboardInterrupt), gate.slot():
            pass  # pragma: no cover - the start is interrupted while it waits
        assert gate.in_flight == 1
    assert gate.in_flight == 0


def test_a_request_that_raises_frees_its_place_and_is_no_answer(clock: FakeClock) -> None:
    controller = _controller()
    gate = Gate(controller, clock=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError), gate.slot():
        raise RuntimeError("no answer")
    assert gate.in_flight == 0
    assert controller.baseline is None


def test_the_gate_never_lets_more_than_the_limit_in_flight() -> None:
    gate = Gate(Controller(ControllerSettings(maximum=2, initial=2)))
    release = threading.Event()
    inside: list[int] = []
    started = threading.Semaphore(0)

    def worker() -> None:
        with gate.slot():
            inside.append(gate.in_flight)
            started.release()
            release.wait(10)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(2):
        assert started.acquire(timeout=10)
    assert gate.in_flight == 2
    assert not started.acquire(timeout=0.2)  # the others wait for room
    release.set()
    for thread in threads:
        thread.join(10)
    assert max(inside) <= 2
    assert len(inside) == 4


@pytest.mark.parametrize("kind", ["read", "write"])
def test_auto_is_the_default_and_a_number_pins_it(kind: str) -> None:
    parsed: source.SourceConfig | destination.DestinationConfig
    pinned: source.SourceConfig | destination.DestinationConfig
    explicit: source.SourceConfig | destination.DestinationConfig
    if kind == "read":
        parsed = source.parse_config({"resource": "vendors"})
        pinned = source.parse_config({"resource": "vendors", "concurrency": 5})
        explicit = source.parse_config({"resource": "vendors", "concurrency": "auto"})
    else:
        base = {"resource": "vendors", "operation": "create"}
        parsed = destination.parse_config(base)
        pinned = destination.parse_config({**base, "concurrency": 5})
        explicit = destination.parse_config({**base, "concurrency": "auto"})
    assert (parsed.auto_concurrency, parsed.concurrency) == (True, 32)
    assert (explicit.auto_concurrency, explicit.concurrency) == (True, 32)
    assert (pinned.auto_concurrency, pinned.concurrency) == (False, 5)


def test_the_command_line_takes_auto_or_a_number_and_the_sandbox_limits() -> None:
    parser = arguments.parser()
    read = parser.parse_args(["read", "vendors", "--concurrency", "auto"])
    assert arguments.source_config(read)["concurrency"] == "auto"
    write = parser.parse_args(["write", "vendors", "--operation", "create", "--concurrency", "3"])
    assert arguments.destination_config(write)["concurrency"] == 3
    sandbox = parser.parse_args(["sandbox", "--rate-limit", "10", "--max-at-once", "4"])
    assert (sandbox.rate_limit, sandbox.max_at_once) == (10.0, 4)
    with pytest.raises(SystemExit):
        parser.parse_args(["read", "vendors", "--concurrency", "many"])


@dataclass(frozen=True)
class _Request:
    latency: float
    throttles: tuple[tuple[float, float | None], ...]  # each 429 on the way: delay, Retry-After
    refused: bool  # its final answer is a 429 (not retried)


_requests = st.lists(
    st.builds(
        _Request,
        latency=st.floats(min_value=0.0, max_value=2.0),
        throttles=st.lists(
            st.tuples(
                st.floats(min_value=0.0, max_value=60.0),
                st.none() | st.floats(min_value=0.0, max_value=86_400.0),
            ),
            max_size=3,
        ).map(tuple),
        refused=st.booleans(),
    ),
    max_size=60,
)


@given(requests=_requests)
def test_under_any_answers_every_wait_is_bounded_and_every_place_is_freed(
    requests: list[_Request],
) -> None:
    """One request after another, each answered 429s, a final 429 or an answer in any order:
    no start waits longer than a capped Retry-After and a few paced starts, no retry waits more
    than ``MAX_SPACING`` beyond its own delay, and every place is given back."""
    clock = FakeClock()
    gate = Gate(_controller(), clock=clock, sleep=clock.sleep)
    for request in requests:
        asked = clock.now
        with gate.slot() as slot:
            assert clock.now - asked <= MAX_HOLD + 2 * MAX_SPACING
            for delay, retry_after in request.throttles:
                before = clock.now
                gate.retrying(slot, throttled=True, delay=delay, retry_after=retry_after)
                assert clock.now - before <= MAX_SPACING
                clock.now += delay  # the client's own wait
            clock.now += request.latency
            if request.refused:
                gate.throttled(
                    slot, retry_after=request.throttles[-1][1] if request.throttles else None
                )
        assert gate.in_flight == 0
        assert 1 <= gate.current <= 32


class _Stopped(Exception):
    pass


def test_a_signal_the_kernel_gives_another_thread_still_stops_a_wait_for_a_result() -> None:
    """A process-wide signal may land on any thread; Python handles it only once the main thread
    runs again, so the main thread's waits must come back to the interpreter."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run on the main thread only")

    def on_signal(signum: int, frame: object) -> None:
        raise _Stopped

    never: Future[int] = Future()
    previous = signal.signal(signal.SIGUSR1, on_signal)
    release = threading.Timer(30, never.set_result, (0,))  # bounds the test without the fix
    sender: threading.Thread | None = None
    try:
        release.start()

        def to_itself() -> None:
            threading.Event().wait(0.2)  # most likely while the main thread waits below
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

        sender = threading.Thread(target=to_itself)
        sender.start()
        with pytest.raises(_Stopped):
            result_of(never)
        assert not never.done()  # the wait ended for the signal, not for the result
    finally:
        release.cancel()
        if sender is not None:
            sender.join(10)
        signal.signal(signal.SIGUSR1, previous)
