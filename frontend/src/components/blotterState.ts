/** The blotter's rows: orders by id, newest first, each at its highest version. Live events arrive at
 * least once and possibly out of order (the outbox may resend), so an older version never overwrites. */
import type { Schemas } from "../api/client";

export type Order = Schemas["OrderView"];

export interface BlotterRows {
  byId: Map<string, Order>;
  rows: Order[];
}

export const emptyRows = (): BlotterRows => ({ byId: new Map(), rows: [] });

const newestFirst = (a: Order, b: Order) => b.created_ns - a.created_ns || (a.id < b.id ? 1 : -1);

/** `state` with `orders` applied; returns `state` itself when nothing changed. */
export function applyOrders(state: BlotterRows, orders: Order[]): BlotterRows {
  let byId: Map<string, Order> | null = null;
  for (const o of orders) {
    const have = (byId ?? state.byId).get(o.id);
    if (have && have.version >= o.version) continue;
    byId ??= new Map(state.byId);
    byId.set(o.id, o);
  }
  if (byId === null) return state;
  return { byId, rows: [...byId.values()].sort(newestFirst) };
}

export const OPEN_STATUSES = new Set(["initialised", "submitted", "accepted", "triggered", "partially_filled"]);
