import { render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Blotter } from "./Blotter";
import { applyOrders, emptyRows, type Order } from "./blotterState";

function order(id: string, over: Partial<Order> = {}): Order {
  return {
    id, account_id: "a", strategy: "default", client_order_id: id, symbol: "AAPL", side: "buy", type: "limit", tif: "gtc",
    qty: 100, limit_price: 150, stop_price: null, venue: "SMART", status: "accepted", filled_qty: 0, leaves_qty: 100,
    avg_fill_price: null, fees: 0, resting_venue: null, expire_ns: null, algo_id: null, denial: null, reason: null,
    version: 1, created_ns: Number(id.replace(/\D/g, "")) * 1000, updated_ns: 0, ...over,
  } as Order;
}

describe("blotter rows", () => {
  it("keeps each order at its highest version: a late, older event does not undo a fill", () => {
    let s = applyOrders(emptyRows(), [order("o1")]);
    s = applyOrders(s, [order("o1", { status: "filled", filled_qty: 100, version: 3 })]);
    s = applyOrders(s, [order("o1", { status: "partially_filled", filled_qty: 40, version: 2 })]);
    expect(s.rows).toHaveLength(1);
    expect(s.rows[0]!.status).toBe("filled");
  });
  it("within one version keeps the later status: the submitted event may arrive after the accepted answer", () => {
    let s = applyOrders(emptyRows(), [order("o1", { status: "submitted", version: 2 })]);
    s = applyOrders(s, [order("o1", { status: "accepted", version: 2 })]);
    s = applyOrders(s, [order("o1", { status: "submitted", version: 2 })]);
    expect(s.rows[0]!.status).toBe("accepted");
  });
  it("returns the same state when an event changes nothing (no re-render)", () => {
    const s = applyOrders(emptyRows(), [order("o1", { version: 2 })]);
    expect(applyOrders(s, [order("o1", { version: 2 })])).toBe(s);
  });
  it("lists newest first", () => {
    const s = applyOrders(emptyRows(), [order("o1"), order("o3"), order("o2")]);
    expect(s.rows.map((o) => o.id)).toEqual(["o3", "o2", "o1"]);
  });
});

describe("<Blotter>", () => {
  // happy-dom lays nothing out: give the scroller the size a browser would, so the virtualiser has a window
  beforeEach(() => {
    vi.spyOn(HTMLElement.prototype, "clientHeight", "get").mockReturnValue(320);
    vi.spyOn(HTMLElement.prototype, "clientWidth", "get").mockReturnValue(900);
  });
  afterEach(() => vi.restoreAllMocks());

  it("renders only the visible rows of 10,000 orders and shows a live status change", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => order(`o${i + 1}`));
    let s = applyOrders(emptyRows(), many);
    const { container, rerender } = render(<Blotter rows={s.rows} onCancel={() => undefined} />);
    const rendered = container.querySelectorAll("[data-order]");
    expect(rendered.length).toBeGreaterThan(0);
    expect(rendered.length).toBeLessThan(100);
    expect(screen.getByTestId("blotter").dataset.count).toBe("10000");
    const top = s.rows[0]!;
    expect(container.querySelector(`[data-order="${top.id}"]`)?.getAttribute("data-status")).toBe("accepted");
    s = applyOrders(s, [{ ...top, status: "filled", version: 2 }]);
    rerender(<Blotter rows={s.rows} onCancel={() => undefined} />);
    const row = container.querySelector(`[data-order="${top.id}"]`)!;
    expect(row.getAttribute("data-status")).toBe("filled");
    expect(row.querySelector("button")).toBeNull(); // a filled order has no cancel button
  });
  it("says so when there are no orders", () => {
    render(<Blotter rows={[]} />);
    expect(screen.getByText("No orders yet.")).toBeTruthy();
  });
});
