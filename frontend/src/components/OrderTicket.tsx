import { useState, type FormEvent } from "react";
import { ApiError, type Schemas } from "../api/client";
import { errorText } from "./async";
import { SIDES, TIFS, TYPES, toRequest, validateTicket, type FieldErrors, type TicketFields } from "./orderRules";

type OrderView = Schemas["OrderView"];

/** An order ticket that refuses locally what the API would refuse, and shows what the API still refuses
 * next to the field its problem-JSON names. `submit` sends the order and resolves with the stored order. */
export function OrderTicket(props: {
  accounts: string[];
  disabled?: string;
  submit: (body: Schemas["SubmitOrder"]) => Promise<OrderView>;
}) {
  const [f, setF] = useState<TicketFields>({
    account_id: props.accounts[0] ?? "",
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    qty: "100",
    limit_price: "",
    stop_price: "",
    tif: "",
    client_order_id: "",
  });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [outcome, setOutcome] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof TicketFields>(k: K, v: TicketFields[K]) => setF((prev) => ({ ...prev, [k]: v }));

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setOutcome(null);
    setFailure(null);
    const found = validateTicket(f);
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const o = await props.submit(toRequest(f));
      setOutcome(`${o.id} ${o.status}${o.reason ? `: ${o.reason}` : ""}`);
    } catch (err) {
      if (err instanceof ApiError) {
        const byField: FieldErrors = {};
        for (const k of Object.keys(f) as (keyof TicketFields)[]) {
          const reason = err.fieldReason(k);
          if (reason) byField[k] = reason;
        }
        setErrors(byField);
        if (!Object.keys(byField).length) setFailure(errorText(err));
      } else setFailure(errorText(err as Error));
    } finally {
      setBusy(false);
    }
  }

  const field = (k: keyof TicketFields, label: string, input: React.ReactNode) => (
    <label className={errors[k] ? "invalid" : ""}>
      {label}
      {input}
      {errors[k] && (
        <span className="field-error" data-field={k}>
          {errors[k]}
        </span>
      )}
    </label>
  );
  const needsLimit = f.type === "limit" || f.type === "stop_limit";
  const needsStop = f.type === "stop" || f.type === "stop_limit";

  return (
    <form className="ticket" onSubmit={onSubmit} aria-label="order ticket" noValidate>
      {field(
        "account_id",
        "account",
        <select name="account_id" value={f.account_id} onChange={(e) => set("account_id", e.target.value)}>
          <option value="">–</option>
          {props.accounts.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>,
      )}
      {field("symbol", "symbol", <input name="symbol" value={f.symbol} onChange={(e) => set("symbol", e.target.value.toUpperCase())} />)}
      {field(
        "side",
        "side",
        <select name="side" value={f.side} onChange={(e) => set("side", e.target.value as TicketFields["side"])}>
          {SIDES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>,
      )}
      {field(
        "type",
        "type",
        <select name="type" value={f.type} onChange={(e) => set("type", e.target.value as TicketFields["type"])}>
          {TYPES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>,
      )}
      {field("qty", "quantity", <input name="qty" inputMode="decimal" value={f.qty} onChange={(e) => set("qty", e.target.value)} />)}
      {field(
        "limit_price",
        "limit price",
        <input name="limit_price" inputMode="decimal" value={f.limit_price} disabled={!needsLimit && !f.limit_price}
          onChange={(e) => set("limit_price", e.target.value)} />,
      )}
      {field(
        "stop_price",
        "stop price",
        <input name="stop_price" inputMode="decimal" value={f.stop_price} disabled={!needsStop && !f.stop_price}
          onChange={(e) => set("stop_price", e.target.value)} />,
      )}
      {field(
        "tif",
        "time in force",
        <select name="tif" value={f.tif} onChange={(e) => set("tif", e.target.value as TicketFields["tif"])}>
          <option value="">default</option>
          {TIFS.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>,
      )}
      {field("client_order_id", "client order id", <input name="client_order_id" value={f.client_order_id}
        onChange={(e) => set("client_order_id", e.target.value)} placeholder="optional" />)}
      <button type="submit" disabled={busy || Boolean(props.disabled)} title={props.disabled}>
        {busy ? "Sending…" : "Submit order"}
      </button>
      {outcome && <p className="ok" data-testid="ticket-outcome">{outcome}</p>}
      {failure && <p className="error" role="alert">{failure}</p>}
    </form>
  );
}
