/** The order ticket's checks: the same bounds and shape rules the API applies (backend/trading/models.py
 * SubmitOrder and engine._validate_shape); `orderRules.test.ts` compares the bounds with openapi.json. */
import type { Schemas } from "../api/client";

export type SubmitOrder = Schemas["SubmitOrder"];
export const IDENT = /^[A-Za-z0-9._:-]+$/;
export const SYMBOL = /^[A-Za-z0-9._:/^=-]{1,64}$/;
export const IDENT_MAX = 64;
export const QTY_MAX = 1e12;
export const PRICE_MAX = 1e9;
export const SIDES = ["buy", "sell", "short"] as const;
export const TYPES = ["market", "limit", "stop", "stop_limit"] as const;
export const TIFS = ["gtc", "ioc", "fok", "day"] as const;

export interface TicketFields {
  account_id: string;
  symbol: string;
  side: (typeof SIDES)[number];
  type: (typeof TYPES)[number];
  qty: string;
  limit_price: string;
  stop_price: string;
  tif: "" | (typeof TIFS)[number];
  client_order_id: string;
}

export type FieldErrors = Partial<Record<keyof TicketFields, string>>;

function positive(text: string, max: number, name: string): string | undefined {
  if (text.trim() === "") return `${name} is required`;
  const v = Number(text);
  if (!Number.isFinite(v)) return `${name} must be a number`;
  if (v <= 0) return `${name} must be greater than 0`;
  if (v > max) return `${name} must be at most ${max.toExponential(0)}`;
  return undefined;
}

/** Field -> reason for everything the API would reject; `{}` when the order may be sent. */
export function validateTicket(f: TicketFields): FieldErrors {
  const e: FieldErrors = {};
  if (!f.account_id) e.account_id = "choose an account";
  else if (f.account_id.length > IDENT_MAX || !IDENT.test(f.account_id)) e.account_id = "letters, digits and ._:- only";
  if (!SYMBOL.test(f.symbol)) e.symbol = "1-64 characters: letters, digits and ._:/^=-";
  const qty = positive(f.qty, QTY_MAX, "quantity");
  if (qty) e.qty = qty;
  const needsLimit = f.type === "limit" || f.type === "stop_limit";
  const needsStop = f.type === "stop" || f.type === "stop_limit";
  if (needsLimit) {
    const r = positive(f.limit_price, PRICE_MAX, "limit price");
    if (r) e.limit_price = r;
  } else if (f.limit_price.trim() !== "") e.limit_price = `a ${f.type} order takes no limit price`;
  if (needsStop) {
    const r = positive(f.stop_price, PRICE_MAX, "stop price");
    if (r) e.stop_price = r;
  } else if (f.stop_price.trim() !== "") e.stop_price = `a ${f.type} order takes no stop price`;
  if (f.type === "market" && (f.tif === "gtc" || f.tif === "day")) e.tif = "a market order's time in force must be ioc or fok";
  if (f.client_order_id && (f.client_order_id.length > IDENT_MAX || !IDENT.test(f.client_order_id)))
    e.client_order_id = "1-64 characters: letters, digits and ._:-";
  return e;
}

/** The request body for a ticket that passed `validateTicket`. */
export function toRequest(f: TicketFields): SubmitOrder {
  return {
    account_id: f.account_id,
    symbol: f.symbol,
    side: f.side,
    type: f.type,
    qty: Number(f.qty),
    ...(f.limit_price.trim() ? { limit_price: Number(f.limit_price) } : {}),
    ...(f.stop_price.trim() ? { stop_price: Number(f.stop_price) } : {}),
    ...(f.tif ? { tif: f.tif } : {}),
    ...(f.client_order_id ? { client_order_id: f.client_order_id } : {}),
  } as SubmitOrder;
}
