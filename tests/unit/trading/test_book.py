"""Order book invariants (hypothesis): never crossed, price-time priority, quantity conserved."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.trading.book import BookCrossed, OrderBook

ops = st.lists(
    st.tuples(st.sampled_from(["rest", "take", "cancel", "sim"]), st.booleans(), st.integers(90, 110),
              st.integers(1, 50)),
    min_size=1, max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_random_operations_then_book_never_crosses_and_quantity_is_conserved(seq) -> None:
    book = OrderBook("X")
    rested: dict[str, float] = {}
    matched_user = 0.0
    cancelled = 0.0
    n = 0
    for op, is_buy, px, qty in seq:
        if op == "rest":
            n += 1
            oid = f"o{n}"
            # match first what would cross, then rest the rest (the engine's contract)
            taken = 0.0
            for e, q, _ in book.match(is_buy, qty, px):
                taken += q
                if e.order_id is not None:
                    matched_user += q
            assert taken == qty or not list(book.opposite_levels(is_buy, px))
            remaining = qty - taken
            if remaining > 0:
                book.rest(oid, "u", is_buy, px, remaining)
                rested[oid] = remaining
        elif op == "take":
            for e, q, _ in book.match(is_buy, qty, None):
                if e.order_id is not None:
                    matched_user += q
        elif op == "cancel" and rested:
            oid = sorted(rested)[px % len(rested)]
            cancelled += book.remove(oid)
        elif op == "sim":
            mid = px
            book.set_simulated([(mid - 1 - i, qty) for i in range(3)], [(mid + 1 + i, qty) for i in range(3)])
        bb, ba = book.best_bid(), book.best_ask()
        assert bb is None or ba is None or bb < ba
        # the cached best prices equal the sorted sides' ends after every operation
        assert bb == (book.bids.keys()[-1] if book.bids else None)
        assert ba == (book.asks.keys()[0] if book.asks else None)
    resting_user = sum(e.qty for e in book.user_entries())
    assert resting_user + matched_user + cancelled == pytest.approx(sum(rested.values()))


def test_same_price_orders_then_fill_in_arrival_order() -> None:
    book = OrderBook("X")
    book.rest("a", "u", False, 101.0, 5)
    book.rest("b", "u", False, 101.0, 5)
    book.rest("c", "u", False, 100.5, 5)  # better price first, regardless of time
    fills = book.match(True, 12, None)
    assert [(e.order_id, q, p) for e, q, p in fills] == [("c", 5, 100.5), ("a", 5, 101.0), ("b", 2, 101.0)]
    assert book.entry("b").qty == 3


@given(st.lists(st.tuples(st.integers(95, 105), st.integers(1, 20)), min_size=1, max_size=40), st.integers(1, 400))
@settings(max_examples=100, deadline=None)
def test_taking_liquidity_then_prices_are_monotone_and_time_priority_holds(levels, take) -> None:
    book = OrderBook("X")
    for i, (px, q) in enumerate(levels):
        book.rest(f"o{i}", "u", False, float(px), float(q))
    fills = book.match(True, float(take), None)
    prices = [p for _, _, p in fills]
    assert prices == sorted(prices)
    for p in set(prices):
        ids = [int(e.order_id[1:]) for e, _, pp in fills if pp == p]
        assert ids == sorted(ids)
    assert sum(q for _, q, _ in fills) == min(take, sum(q for _, q in levels))


def test_resting_a_crossing_order_then_refused() -> None:
    book = OrderBook("X")
    book.rest("a", "u", False, 100.0, 1)
    with pytest.raises(BookCrossed):
        book.rest("b", "u", True, 100.0, 1)


def test_simulated_refresh_when_level_persists_then_keeps_queue_position() -> None:
    book = OrderBook("X")
    book.set_simulated([], [(101.0, 10)])
    book.rest("u1", "u", False, 101.0, 5)
    book.set_simulated([], [(101.0, 8), (101.5, 3)])
    fills = book.match(True, 9, None)
    assert [(e.order_id, q) for e, q, _ in fills] == [(None, 8), ("u1", 1)]


def test_simulated_levels_that_would_cross_user_orders_then_skipped() -> None:
    book = OrderBook("X")
    book.rest("bid", "u", True, 100.5, 5)
    book.set_simulated([(99.0, 10)], [(100.4, 10), (100.6, 10)])
    assert book.best_ask() == 100.6 and book.best_bid() == 100.5


@given(st.lists(st.tuples(st.booleans(), st.integers(90, 110), st.integers(1, 20)), min_size=1, max_size=40),
       st.booleans(), st.one_of(st.none(), st.integers(85, 115)), st.integers(1, 300))
@settings(max_examples=150, deadline=None)
def test_reachable_then_equals_opposite_levels_cut_at_the_quantity(orders, is_buy, limit, qty) -> None:
    """The router's fast path (cached best level, then a key walk) against the irange-based levels."""
    book = OrderBook("X")
    for i, (buy, px, q) in enumerate(orders):
        if not book.match(buy, float(q), float(px)):
            book.rest(f"o{i}", "u", buy, float(px), float(q))
    lim = float(limit) if limit is not None else None
    expected, seen = [], 0.0
    for p, q in book.opposite_levels(is_buy, lim):
        expected.append((p, q))
        seen += q
        if seen >= qty:
            break
    assert book.reachable(is_buy, lim, float(qty)) == expected
