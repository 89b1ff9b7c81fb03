import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { IDENT, IDENT_MAX, PRICE_MAX, QTY_MAX, SIDES, SYMBOL, TIFS, TYPES, toRequest, validateTicket, type TicketFields } from "./orderRules";

const base: TicketFields = {
  account_id: "paper-1", symbol: "AAPL", side: "buy", type: "limit", qty: "100", limit_price: "150",
  stop_price: "", tif: "", client_order_id: "",
};

describe("validateTicket", () => {
  it("accepts a complete limit order and builds the request the API takes", () => {
    expect(validateTicket(base)).toEqual({});
    expect(toRequest(base)).toEqual({ account_id: "paper-1", symbol: "AAPL", side: "buy", type: "limit", qty: 100, limit_price: 150 });
  });
  it.each([
    [{ qty: "0" }, "qty", "greater than 0"],
    [{ qty: "-5" }, "qty", "greater than 0"],
    [{ qty: "abc" }, "qty", "a number"],
    [{ qty: "1e13" }, "qty", "at most"],
    [{ limit_price: "" }, "limit_price", "required"],
    [{ limit_price: "2e9" }, "limit_price", "at most"],
    [{ type: "market", limit_price: "150" }, "limit_price", "takes no limit price"],
    [{ type: "stop", limit_price: "" }, "stop_price", "required"],
    [{ type: "market", limit_price: "", tif: "gtc" }, "tif", "ioc or fok"],
    [{ symbol: "AA PL" }, "symbol", "letters"],
    [{ account_id: "" }, "account_id", "choose"],
    [{ client_order_id: "has space" }, "client_order_id", "letters"],
  ] as [Partial<TicketFields>, keyof TicketFields, string][])("refuses %o on %s", (change, field, reason) => {
    const errors = validateTicket({ ...base, ...change });
    expect(errors[field]).toContain(reason);
  });
  it("needs both prices for a stop-limit order", () => {
    const errors = validateTicket({ ...base, type: "stop_limit", limit_price: "", stop_price: "" });
    expect(Object.keys(errors).sort()).toEqual(["limit_price", "stop_price"]);
  });
});

describe("the ticket's bounds are the API's (openapi.json, generated from the gateway)", () => {
  const spec = JSON.parse(readFileSync(resolve(__dirname, "../../openapi.json"), "utf8"));
  const schemas = spec.components.schemas;
  const submit = schemas.SubmitOrder.properties;
  const nonNull = (p: { anyOf?: object[] }) => (p.anyOf ? p.anyOf.find((x) => !("type" in x && x.type === "null")) : p) as Record<string, unknown>;

  it("quantity and prices", () => {
    expect(submit.qty.exclusiveMinimum).toBe(0);
    expect(submit.qty.maximum).toBe(QTY_MAX);
    for (const k of ["limit_price", "stop_price"]) {
      expect(nonNull(submit[k]).exclusiveMinimum).toBe(0);
      expect(nonNull(submit[k]).maximum).toBe(PRICE_MAX);
    }
  });
  it("identifiers and symbols", () => {
    expect(submit.account_id.pattern).toBe(IDENT.source);
    expect(submit.account_id.maxLength).toBe(IDENT_MAX);
    expect(nonNull(submit.client_order_id).pattern).toBe(IDENT.source);
    expect(submit.symbol.pattern).toBe(SYMBOL.source.replace("\\/", "/"));
  });
  it("sides, types and times in force", () => {
    expect(schemas.Side.enum).toEqual([...SIDES]);
    expect(schemas.OrderType.enum).toEqual([...TYPES]);
    expect(schemas.TimeInForce.enum).toEqual([...TIFS]);
  });
});
