"""The slow-consumer policy of a client's send queue, and the topic families' pattern checks."""

import asyncio

from backend.core.scopes import Scope
from engines.websocket.send_queue import SendQueue, frame
from engines.websocket.topics import check_pattern, family_of_topic, glob_regex


async def test_queue_when_quotes_repeat_then_latest_kept_in_first_place_and_conflation_counted() -> None:
    q = SendQueue(max_items=10)
    q.put("q1-a", "data.quotes.SIM.A")
    q.put("order-1")
    q.put("q1-b", "data.quotes.SIM.A")
    q.put("q2-a", "data.quotes.SIM.B")
    assert await asyncio.wait_for(q.take(), 1) == ["q1-b", "order-1", "q2-a"]
    assert q.conflated == 1 and len(q) == 0


async def test_queue_when_non_conflatable_messages_exceed_bound_then_overflow_reported_none_dropped() -> None:
    q = SendQueue(max_items=3)
    assert all(q.put(f"o{i}") for i in range(3))
    assert q.put("o3") is False and q.overflowed
    assert await q.take(limit=10) == ["o0", "o1", "o2", "o3"]


async def test_queue_when_empty_then_take_waits_for_a_put() -> None:
    q = SendQueue()
    waiter = asyncio.create_task(q.take())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.put("x")
    assert await asyncio.wait_for(waiter, 1) == ["x"]


def test_frame_when_several_then_json_array_else_the_message() -> None:
    assert frame(['{"a":1}']) == '{"a":1}'
    assert frame(['{"a":1}', '{"b":2}']) == '[{"a":1},{"b":2}]'


def test_patterns_name_a_family_and_its_scope() -> None:
    assert check_pattern("data.quotes.*")[1].scope == Scope.READ
    assert check_pattern("data.quotes*")[1].name == "quotes"
    assert check_pattern("events.order.strat-1")[1].scope == Scope.TRADE
    assert check_pattern("events.risk.*")[1].scope == Scope.RISK_ADMIN
    for bad in ("*", "data.*", "nope.x", "", "data.quotes.$", 5):
        assert isinstance(check_pattern(bad), str), bad
    assert family_of_topic("events.risk.kill_switch").name == "risk"
    assert family_of_topic("events.job.ml.train").scope == Scope.COMPUTE


def test_glob_regex_when_star_and_question_then_whole_topic_matched() -> None:
    r = glob_regex(["data.quotes.SIM.*", "events.order.s?"])
    assert r.match("data.quotes.SIM.AAPL") and r.match("events.order.s1")
    assert not r.match("data.quotes.SIMX.AAPL") and not r.match("events.order.s12")
