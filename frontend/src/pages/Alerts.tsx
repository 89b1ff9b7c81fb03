import { useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText, Loaded, useAsync } from "../components/async";
import { useTopic } from "../live/context";
import { allows, useSession } from "../session";

type EventKind = Schemas["CreateRuleRequest"]["event"];
type Priority = NonNullable<Schemas["CreateRuleRequest"]["priority"]>;
const EVENTS: EventKind[] = ["order_filled", "order_rejected", "fill", "position_pnl", "kill_switch", "limit_breach", "job_finished", "job_failed", "engine_down"];
const PRIORITIES: Priority[] = ["low", "normal", "high", "critical"];

/** The notification engine: rules (event, priority, channels), the notifications they raised, live as they
 * arrive (`notifications.*`), and acknowledgement. */
export function Alerts() {
  const { api, identity } = useSession();
  const canAdmin = allows(identity, "risk-admin");
  const rules = useAsync(async () => unwrap(await api.POST("/api/v1/websocket/list_notification_rules", { body: {} })).items, [api]);
  const [openOnly, setOpenOnly] = useState(false);
  const notes = useAsync(
    async () => unwrap(await api.POST("/api/v1/websocket/list_notifications", { body: { limit: 100, unacknowledged_only: openOnly } })).items,
    [api, openOnly],
  );
  useTopic("notifications.*", () => notes.reload());
  const [name, setName] = useState("fills");
  const [event, setEvent] = useState<EventKind>("order_filled");
  const [priority, setPriority] = useState<Priority>("normal");
  const [webhook, setWebhook] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function act(what: () => Promise<void>) {
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(errorText(e as Error));
    }
  }

  return (
    <div className="grid">
      <section className="wide">
        <h2>Notifications</h2>
        <label className="check">
          <input type="checkbox" checked={openOnly} onChange={(e) => setOpenOnly(e.target.checked)} /> unacknowledged only
        </label>
        <Loaded state={notes} empty={(n) => n.length === 0} emptyText="No notifications: a rule raises one when its event happens.">
          {(items) => (
            <table data-testid="notifications">
              <thead><tr><th>last</th><th>priority</th><th>rule</th><th>title</th><th>count</th><th>acknowledged</th><th /></tr></thead>
              <tbody>
                {items.map((n) => (
                  <tr key={n.id} data-rule={n.rule_name} data-acknowledged={n.acknowledged_at ? "yes" : "no"}>
                    <td className="mono">{n.last_ts.slice(0, 19).replace("T", " ")}</td>
                    <td className={n.priority === "critical" || n.priority === "high" ? "status-down" : ""}>{n.priority}</td>
                    <td>{n.rule_name}</td><td>{n.title}</td><td>{n.count}</td>
                    <td>{n.acknowledged_at ? `${n.acknowledged_by ?? ""} ${n.acknowledged_at.slice(0, 19).replace("T", " ")}` : "–"}</td>
                    <td>
                      {!n.acknowledged_at && (
                        <button className="small" disabled={!canAdmin} title={canAdmin ? "" : "needs the risk-admin scope"}
                          onClick={() => void act(async () => {
                            unwrap(await api.POST("/api/v1/websocket/acknowledge_notification", { body: { id: n.id, by: identity.name } }));
                            notes.reload();
                          })}>
                          acknowledge
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
        {error && <p className="error" role="alert">{error}</p>}
      </section>
      <section className="wide">
        <h2>Rules</h2>
        <Loaded state={rules} empty={(r) => r.length === 0} emptyText="No rules yet.">
          {(items) => (
            <table data-testid="rules">
              <thead><tr><th>name</th><th>event</th><th>priority</th><th>conditions</th><th>channels</th><th>window</th><th /></tr></thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.id} data-rule={r.name}>
                    <td>{r.name}</td><td>{r.event}</td><td>{r.priority}</td>
                    <td className="mono">{r.conditions.map((c) => `${c.field} ${c.op} ${JSON.stringify(c.value)}`).join("; ") || "–"}</td>
                    <td>{r.channels.map((c) => String((c as { type?: string }).type)).join(", ")}</td>
                    <td>{r.window_s} s</td>
                    <td>
                      <button className="small" disabled={!canAdmin} onClick={() => void act(async () => {
                        unwrap(await api.POST("/api/v1/websocket/delete_notification_rule", { body: { id: r.id } }));
                        rules.reload();
                      })}>delete</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
        {canAdmin && (
          <form className="inline" aria-label="new rule" onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              const channels: Schemas["CreateRuleRequest"]["channels"] = [{ type: "websocket" }];
              if (webhook.trim()) channels.push({ type: "webhook", url: webhook.trim() } as Schemas["WebhookChannel"]);
              unwrap(await api.POST("/api/v1/websocket/create_notification_rule", { body: { name, event, priority, channels } as Schemas["CreateRuleRequest"] }));
              rules.reload();
            });
          }}>
            <input aria-label="rule name" value={name} onChange={(e) => setName(e.target.value)} />
            <select aria-label="rule event" value={event} onChange={(e) => setEvent(e.target.value as EventKind)}>
              {EVENTS.map((x) => <option key={x}>{x}</option>)}
            </select>
            <select aria-label="rule priority" value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
              {PRIORITIES.map((x) => <option key={x}>{x}</option>)}
            </select>
            <input aria-label="webhook url" value={webhook} onChange={(e) => setWebhook(e.target.value)} placeholder="webhook URL (optional)" size={30} />
            <button type="submit">Add rule</button>
          </form>
        )}
      </section>
    </div>
  );
}
