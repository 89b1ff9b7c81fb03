/** The blotter's rows: orders by id, newest first, each at its latest state. Live events arrive at least
 * once and possibly out of order (the outbox may resend; an event can beat the REST answer it belongs to),
 * so an older version never overwrites. Every transition a request causes is its own event but carries the
 * order as it stands after the request (one version): within a version the later lifecycle status wins. */
import type { Schemas } from "../api/client";

export type Order = Schemas["OrderView"];

export interface BlotterRows {
  byId: Map<string, Order>;
  rows: Order[];
}

export const emptyRows = (): BlotterRows => ({ byId: new Map(), rows: [] });

/** Lifecycle order of the statuses (terminal ones last). */
const STAGE: Record<string, number> = {
  initialised: 0, submitted: 1, accepted: 2, triggered: 3, partially_filled: 4,
  filled: 5, cancelled: 5, expired: 5, rejected: 5, denied: 5,
};

function isNewer(o: Order, have: Order): boolean {
  if (o.version !== have.version) return o.version > have.version;
  return (STAGE[o.status] ?? 0) > (STAGE[have.status] ?? 0);
}

const newestFirst = (a: Order, b: Order) => b.created_ns - a.created_ns || (a.id < b.id ? 1 : -1);

/** `state` with `orders` applied; returns `state` itself when nothing changed. */
export function applyOrders(state: BlotterRows, orders: Order[]): BlotterRows {
  let byId: Map<string, Order> | null = null;
  for (const o of orders) {
    const have = (byId ?? state.byId).get(o.id);
    if (have && !isNewer(o, have)) continue;
    byId ??= new Map(state.byId);
    byId.set(o.id, o);
  }
  if (byId === null) return state;
  return { byId, rows: [...byId.values()].sort(newestFirst) };
}

export const OPEN_STATUSES = new Set(["initialised", "submitted", "accepted", "triggered", "partially_filled"]);
