import { useState, type FormEvent } from "react";
import type { Schemas } from "../api/client";
import { errorText } from "./async";

type Kind = "twap" | "vwap" | "pov";

/** Start a TWAP/VWAP (duration and slices) or POV (participation) parent order; the API's rules first. */
export function AlgoForm(props: { accounts: string[]; disabled?: string; start: (body: Schemas["CreateAlgo"]) => Promise<unknown> }) {
  const [kind, setKind] = useState<Kind>("twap");
  const [account, setAccount] = useState("");
  const [symbol, setSymbol] = useState("AAPL");
  const [side, setSide] = useState<"buy" | "sell" | "short">("buy");
  const [qty, setQty] = useState("1000");
  const [duration, setDuration] = useState("60");
  const [slices, setSlices] = useState("6");
  const [participation, setParticipation] = useState("0.1");
  const [error, setError] = useState<string | null>(null);
  const acct = account || props.accounts[0] || "";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const n = Number(qty);
    if (!(n > 0)) return setError("quantity must be greater than 0");
    const body: Record<string, unknown> = { kind, account_id: acct, symbol, side, qty: n };
    if (kind === "pov") {
      const p = Number(participation);
      if (!(p > 0 && p <= 1)) return setError("participation must be in (0, 1]");
      body.participation = p;
    } else {
      const d = Number(duration);
      const s = Number(slices);
      if (!(d > 0 && d <= 86400)) return setError("duration must be 0-86,400 s");
      if (!(Number.isInteger(s) && s >= 1 && s <= 10000)) return setError("slices must be a whole number 1-10,000");
      Object.assign(body, { duration_s: d, slices: s });
    }
    try {
      await props.start(body as Schemas["CreateAlgo"]);
    } catch (err) {
      setError(errorText(err as Error));
    }
  }

  return (
    <form className="inline" aria-label="start algorithm" onSubmit={submit}>
      <select aria-label="algorithm" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
        <option value="twap">TWAP</option>
        <option value="vwap">VWAP</option>
        <option value="pov">POV</option>
      </select>
      <select aria-label="algorithm account" value={acct} onChange={(e) => setAccount(e.target.value)}>
        {props.accounts.map((a) => <option key={a}>{a}</option>)}
      </select>
      <input aria-label="algorithm symbol" value={symbol} onChange={(e) => setSymbol(e.target.value.toUpperCase())} size={8} />
      <select aria-label="algorithm side" value={side} onChange={(e) => setSide(e.target.value as typeof side)}>
        <option>buy</option><option>sell</option><option>short</option>
      </select>
      <input aria-label="algorithm quantity" value={qty} onChange={(e) => setQty(e.target.value)} size={7} />
      {kind === "pov" ? (
        <label>participation <input aria-label="participation" value={participation} onChange={(e) => setParticipation(e.target.value)} size={4} /></label>
      ) : (
        <>
          <label>over <input aria-label="duration seconds" value={duration} onChange={(e) => setDuration(e.target.value)} size={5} /> s</label>
          <label>in <input aria-label="slices" value={slices} onChange={(e) => setSlices(e.target.value)} size={4} /> slices</label>
        </>
      )}
      <button type="submit" disabled={Boolean(props.disabled) || !acct} title={props.disabled}>Start</button>
      {error && <span className="error" role="alert">{error}</span>}
    </form>
  );
}
