import { useEffect, useState } from "react";
import { unwrap } from "../api/client";
import { Loaded, useAsync } from "../components/async";
import { bytes, num, pct, timeNs } from "../components/format";
import { useTopic } from "../live/context";
import type { Envelope } from "../live/socket";
import { useSession } from "../session";

interface Service {
  name: string;
  kind: string;
  backend?: string;
  status: string;
  latency_ms?: number | null;
  circuit?: string;
  device?: string | null;
  device_name?: string | null;
  error?: string;
}
interface Health {
  status: string;
  services: Service[];
  processes: Record<string, { pid: number | null; state: string; restarts: number; last_exit_code: number | null }> | null;
  infrastructure: Record<string, { mode: string; ok: boolean; latency_ms?: number }>;
}

const REFRESH_MS = 5000;
const MAX_EVENTS = 30;

/** Every engine and native process, the hardware, and the latest events on the bus. */
export function Overview() {
  const { api, config, apiKey } = useSession();
  const health = useAsync(async () => {
    // /health is open; with a read key it gives the detail (the typed schema leaves its shape free)
    const r = await fetch(`${config.apiUrl}/health`, { headers: { "X-API-Key": apiKey } });
    return (await r.json()) as Health;
  }, [config.apiUrl, apiKey]);
  const hardware = useAsync(async () => unwrap(await api.GET("/api/v1/system/hardware")), [api]);
  const [events, setEvents] = useState<Envelope[]>([]);
  useTopic("events.*", (e) => setEvents((prev) => [e, ...prev].slice(0, MAX_EVENTS)));
  useEffect(() => {
    const t = setInterval(() => {
      health.reload();
      hardware.reload();
    }, REFRESH_MS);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <div className="grid">
      <section className="wide">
        <h2>Engines and processes</h2>
        <Loaded state={health} empty={(h) => h.services.length === 0}>
          {(h) => (
            <>
              <p>
                Platform: <b className={`status-${h.status}`}>{h.status}</b>
                {Object.entries(h.infrastructure ?? {}).map(([k, v]) => (
                  <span key={k} className="chip">
                    {k}: {v.mode} {v.ok ? "ok" : "down"}
                  </span>
                ))}
              </p>
              <table data-testid="services">
                <thead>
                  <tr>
                    <th>engine</th><th>kind</th><th>served by</th><th>status</th><th>breaker</th>
                    <th>latency ms</th><th>device</th><th>process</th>
                  </tr>
                </thead>
                <tbody>
                  {h.services.map((s) => {
                    const proc = h.processes?.[s.kind === "native" ? `native-${s.backend?.split(":")[1]?.split("@")[0]}` : s.name];
                    return (
                      <tr key={`${s.name}-${s.backend ?? s.kind}`} className={s.status === "ok" ? "" : "down"}>
                        <td>{s.name}</td>
                        <td>{s.kind}</td>
                        <td className="mono">{s.backend ?? "gateway"}</td>
                        <td className={`status-${s.status}`} title={s.error}>{s.status}</td>
                        <td>{s.circuit ?? "–"}</td>
                        <td>{num(s.latency_ms, 1)}</td>
                        <td>{s.device ? `${s.device}${s.device_name ? ` (${s.device_name})` : ""}` : "–"}</td>
                        <td>{proc ? `${proc.state}, pid ${proc.pid ?? "–"}, restarts ${proc.restarts}` : "–"}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </>
          )}
        </Loaded>
      </section>
      <section>
        <h2>Supervised processes</h2>
        <Loaded state={health} empty={(h) => !h.processes} emptyText="This gateway is not under the platform's supervisor.">
          {(h) => (
            <table data-testid="processes">
              <thead><tr><th>process</th><th>state</th><th>pid</th><th>restarts</th><th>last exit</th></tr></thead>
              <tbody>
                {Object.entries(h.processes ?? {}).map(([name, p]) => (
                  <tr key={name} className={p.state === "running" ? "" : "down"}>
                    <td>{name}</td><td>{p.state}</td><td>{p.pid ?? "–"}</td><td>{p.restarts}</td><td>{p.last_exit_code ?? "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
      </section>
      <section>
        <h2>Hardware</h2>
        <Loaded state={hardware}>
          {(hw) => (
            <dl>
              <dt>host</dt><dd>{hw.hostname}</dd>
              <dt>CPU</dt><dd>{hw.cpu.model} · {hw.cpu.logical_cores} cores · load {num(hw.cpu.load_1m)} · {pct(hw.cpu.utilisation_ratio, 0)}</dd>
              <dt>memory</dt><dd>{bytes(hw.memory.used_bytes)} of {bytes(hw.memory.total_bytes)}</dd>
              <dt>GPUs</dt>
              <dd>
                {hw.gpus.devices.length
                  ? hw.gpus.devices.map((g) => `${g.name} ${bytes(g.memory_used_bytes)}/${bytes(g.memory_total_bytes)}`).join("; ")
                  : `none (${hw.gpus.notes.join("; ")})`}
              </dd>
              {hw.disks.map((d) => (
                <span key={d.path}>
                  <dt>disk {d.role}</dt><dd>{bytes(d.free_bytes)} free of {bytes(d.total_bytes)}</dd>
                </span>
              ))}
            </dl>
          )}
        </Loaded>
      </section>
      <section>
        <h2>Recent events</h2>
        {events.length === 0 ? (
          <p className="muted empty">No events since this page opened (orders, fills, limit breaches appear here live).</p>
        ) : (
          <ul className="events" data-testid="events">
            {events.map((e, i) => (
              <li key={`${e.ts_ns}-${i}`}>
                <span className="mono">{timeNs(e.ts_ns)}</span> <b>{e.type}</b> <span className="muted">{e.topic}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
