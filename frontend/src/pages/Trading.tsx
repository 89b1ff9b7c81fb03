import { useCallback, useEffect, useRef, useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText, Loaded, useAsync } from "../components/async";
import { AlgoForm } from "../components/AlgoForm";
import { Blotter } from "../components/Blotter";
import { applyOrders, emptyRows, type Order } from "../components/blotterState";
import { num } from "../components/format";
import { OrderTicket } from "../components/OrderTicket";
import { useTopic } from "../live/context";
import { allows, useSession } from "../session";

type Fill = Schemas["FillView"];
const REFRESH_MS = 1000;

/** `fn`, called at most once per `ms` however often the returned function is. */
function useThrottled(fn: () => void, ms: number): () => void {
  const due = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(fn);
  useEffect(() => {
    latest.current = fn;
  });
  useEffect(() => () => {
    if (due.current) clearTimeout(due.current);
  }, []);
  return useCallback(() => {
    due.current ??= setTimeout(() => {
      due.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}

/** Accounts, the order ticket, the live blotter, fills, positions with P&L, algorithms and the kill switch. */
export function Trading() {
  const { api, identity } = useSession();
  const canTrade = allows(identity, "trade");
  const canKill = allows(identity, "risk-admin");
  const accounts = useAsync(async () => unwrap(await api.GET("/api/v1/trading/accounts")), [api]);
  const positions = useAsync(async () => unwrap(await api.GET("/api/v1/trading/positions")).items, [api]);
  const fills = useAsync(async () => unwrap(await api.GET("/api/v1/trading/fills", { params: { query: { limit: 100 } } })).items, [api]);
  const algos = useAsync(async () => unwrap(await api.GET("/api/v1/trading/algorithms")).items, [api]);
  useEffect(() => {
    if (!algos.data?.some((a) => a.status === "running")) return;
    const t = setTimeout(algos.reload, REFRESH_MS);
    return () => clearTimeout(t);
  }, [algos.data, algos.reload]);
  const kill = useAsync(async () => unwrap(await api.GET("/api/v1/trading/kill-switch")), [api]);
  const [rows, setRows] = useState(emptyRows);
  const [actionError, setActionError] = useState<string | null>(null);

  useEffect(() => {
    void api.GET("/api/v1/trading/orders", { params: { query: { limit: 1000 } } }).then((r) => {
      if (r.data) setRows((s) => applyOrders(s, r.data.items));
    });
  }, [api]);
  useTopic("events.order.*", (e) => setRows((s) => applyOrders(s, [e.payload as unknown as Order])));
  const reloadAccounts = accounts.reload;
  // cash, P&L and positions move with every fill: re-read them (marked to market) at most once a second
  const refreshSoon = useThrottled(() => {
    reloadAccounts();
    positions.reload();
  }, REFRESH_MS);
  useTopic("events.position.*", refreshSoon);
  const [liveFills, setLiveFills] = useState<Fill[]>([]);
  useTopic("events.fill.*", (e) => {
    setLiveFills((f) => [e.payload as unknown as Fill, ...f].slice(0, 200));
    refreshSoon();
  });
  useTopic("events.risk*", () => {
    kill.reload();
    reloadAccounts();
  });

  const cancel = useCallback(
    async (id: string) => {
      setActionError(null);
      try {
        const o = unwrap(await api.POST("/api/v1/trading/orders/{order_id}/cancel", { params: { path: { order_id: id } } }));
        setRows((s) => applyOrders(s, [o]));
      } catch (e) {
        setActionError(errorText(e as Error));
      }
    },
    [api],
  );

  const accountIds = accounts.data?.items.map((a) => a.id) ?? [];
  const mergedPositions = positions.data ?? [];
  const allFills = (() => {
    const seen = new Set<string>();
    return [...liveFills, ...(fills.data ?? [])].filter((f) => !seen.has(f.id) && (seen.add(f.id), true));
  })();

  return (
    <div className="grid">
      <section className="wide">
        <h2>Accounts</h2>
        <Loaded state={accounts} empty={(a) => a.items.length === 0} emptyText="No accounts yet (an admin key can create one).">
          {(a) => (
            <table data-testid="accounts">
              <thead>
                <tr><th>account</th><th>cash</th><th>equity</th><th>realised</th><th>unrealised</th><th>gross</th><th>open orders</th><th>kill switch</th></tr>
              </thead>
              <tbody>
                {a.items.map((x) => (
                  <tr key={x.id}>
                    <td>{x.id}</td><td>{num(x.cash)}</td><td>{num(x.equity)}</td><td>{num(x.realised_pnl)}</td>
                    <td>{num(x.unrealised_pnl)}</td><td>{num(x.gross_exposure)}</td><td>{x.open_orders}</td>
                    <td className={x.kill_switch ? "status-down" : ""}>{x.kill_switch ? "ACTIVE" : "off"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
        {allows(identity, "admin") && <CreateAccount onCreated={reloadAccounts} />}
      </section>
      <section>
        <h2>Order ticket</h2>
        <OrderTicket
          accounts={accountIds}
          disabled={canTrade ? undefined : "this key lacks the trade scope"}
          submit={async (body) => {
            const o = unwrap(await api.POST("/api/v1/trading/orders", { body }));
            setRows((s) => applyOrders(s, [o]));
            return o;
          }}
        />
      </section>
      <section>
        <h2>Kill switch</h2>
        <Loaded state={kill}>
          {(k) => (
            <KillSwitch active={k.global.active} reason={k.global.reason ?? ""} disabled={!canKill}
              set={async (active, reason) => {
                setActionError(null);
                try {
                  unwrap(await api.POST("/api/v1/trading/kill-switch", { body: { active, reason } }));
                } catch (e) {
                  setActionError(errorText(e as Error));
                }
                kill.reload();
                reloadAccounts();
              }} />
          )}
        </Loaded>
      </section>
      <section className="wide">
        <h2>Orders <span className="muted">({rows.rows.length})</span></h2>
        {actionError && <p className="error" role="alert">{actionError}</p>}
        <Blotter rows={rows.rows} onCancel={canTrade ? cancel : undefined} />
      </section>
      <section className="wide">
        <h2>Positions</h2>
        <Loaded state={positions} empty={() => mergedPositions.length === 0} emptyText="No positions yet.">
          {() => (
            <table data-testid="positions">
              <thead>
                <tr><th>account</th><th>strategy</th><th>symbol</th><th>qty</th><th>avg cost</th><th>mark</th><th>value</th><th>realised</th><th>unrealised</th></tr>
              </thead>
              <tbody>
                {mergedPositions.map((p) => (
                  <tr key={`${p.account_id}|${p.strategy}|${p.symbol}`} data-symbol={p.symbol}>
                    <td>{p.account_id}</td><td>{p.strategy}</td><td>{p.symbol}</td><td>{num(p.qty, 0)}</td><td>{num(p.avg_cost)}</td>
                    <td>{num(p.mark_price)}</td><td>{num(p.market_value)}</td><td>{num(p.realised_pnl)}</td><td>{num(p.unrealised_pnl)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
      </section>
      <section className="wide">
        <h2>Fills</h2>
        <Loaded state={fills} empty={() => allFills.length === 0} emptyText="No fills yet.">
          {() => (
            <table data-testid="fills">
              <thead><tr><th>order</th><th>symbol</th><th>side</th><th>qty</th><th>price</th><th>venue</th></tr></thead>
              <tbody>
                {allFills.slice(0, 50).map((f) => (
                  <tr key={f.id}><td className="mono">{f.order_id}</td><td>{f.symbol}</td><td>{f.side}</td><td>{num(f.qty, 0)}</td><td>{num(f.price)}</td><td>{f.venue}</td></tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
      </section>
      <section>
        <h2>Algorithms</h2>
        <AlgoForm accounts={accountIds} disabled={canTrade ? undefined : "this key lacks the trade scope"}
          start={async (body) => {
            unwrap(await api.POST("/api/v1/trading/algorithms", { body }));
            algos.reload();
          }} />
        <Loaded state={algos} empty={(a) => a.length === 0} emptyText="No TWAP/VWAP/POV algorithms running.">
          {(a) => (
            <table data-testid="algos">
              <thead><tr><th>id</th><th>kind</th><th>symbol</th><th>side</th><th>progress</th><th>status</th></tr></thead>
              <tbody>
                {a.map((x) => (
                  <tr key={x.id} data-kind={x.kind} data-status={x.status} title={x.last_error ?? undefined}>
                    <td className="mono">{x.id}</td><td>{x.kind}</td><td>{x.symbol}</td><td>{x.side}</td>
                    <td><progress max={1} value={x.progress} /> {Math.round(x.progress * 100)}%</td><td>{x.status}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
      </section>
    </div>
  );
}

function KillSwitch(props: { active: boolean; reason: string; disabled: boolean; set: (active: boolean, reason: string) => Promise<void> }) {
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState("");
  if (!props.active && !confirming)
    return (
      <p>
        Off.{" "}
        <button className="danger" disabled={props.disabled} title={props.disabled ? "needs the risk-admin scope" : ""}
          onClick={() => setConfirming(true)}>
          Activate kill switch…
        </button>
      </p>
    );
  if (confirming)
    return (
      <div className="confirm" role="dialog" aria-label="confirm kill switch">
        <p>Activating cancels every open order and algorithm on every account and denies new orders.</p>
        <input aria-label="reason" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="reason" />
        <button className="danger" onClick={() => void props.set(true, reason || "dashboard").then(() => setConfirming(false))}>
          Confirm: stop all trading
        </button>
        <button onClick={() => setConfirming(false)}>Keep trading</button>
      </div>
    );
  return (
    <p className="status-down" data-testid="kill-active">
      ACTIVE{props.reason ? `: ${props.reason}` : ""}{" "}
      <button disabled={props.disabled} onClick={() => void props.set(false, "released from the dashboard")}>Release</button>
    </p>
  );
}

function CreateAccount(props: { onCreated: () => void }) {
  const { api } = useSession();
  const [id, setId] = useState("paper-1");
  const [cash, setCash] = useState("1000000");
  const [error, setError] = useState<string | null>(null);
  return (
    <form className="inline" aria-label="create account"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          unwrap(await api.POST("/api/v1/trading/accounts", { body: { id, name: id, starting_cash: Number(cash) } }));
          props.onCreated();
        } catch (err) {
          setError(errorText(err as Error));
        }
      }}>
      <input aria-label="account id" value={id} onChange={(e) => setId(e.target.value)} />
      <input aria-label="starting cash" value={cash} onChange={(e) => setCash(e.target.value)} />
      <button type="submit">Create account</button>
      {error && <span className="error" role="alert">{error}</span>}
    </form>
  );
}
