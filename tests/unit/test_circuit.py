import pytest

from backend.gateway.circuit import CircuitBreaker, CircuitState, IllegalTransition


def test_breaker_when_failures_reach_threshold_then_opens():
    b = CircuitBreaker("x", failure_threshold=3)
    b.record_failure("t1")
    b.record_failure("t2")
    assert b.state is CircuitState.CLOSED
    b.record_failure("t3")
    assert b.state is CircuitState.OPEN and not b.allows_calls


def test_breaker_when_success_between_failures_then_count_resets():
    b = CircuitBreaker("x", failure_threshold=2)
    b.record_failure("t1")
    b.record_success()
    b.record_failure("t2")
    assert b.state is CircuitState.CLOSED


def test_breaker_when_connection_refused_then_opens_at_once():
    b = CircuitBreaker("x", failure_threshold=5)
    b.record_failure("refused", fatal=True)
    assert b.state is CircuitState.OPEN


def test_breaker_when_probe_passes_then_closes_and_when_fails_then_reopens():
    b = CircuitBreaker("x")
    b.record_failure("refused", fatal=True)
    b.fire("probe")
    assert b.state is CircuitState.HALF_OPEN and not b.allows_calls
    b.fire("probe_fail")
    assert b.state is CircuitState.OPEN
    b.fire("probe")
    b.fire("probe_ok")
    assert b.state is CircuitState.CLOSED and b.consecutive_failures == 0


def test_breaker_when_illegal_transition_then_raises():
    b = CircuitBreaker("x")
    with pytest.raises(IllegalTransition):
        b.fire("probe_ok")
