import { useEffect, useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText, Loaded, useAsync } from "../components/async";
import { useTopic } from "../live/context";
import { allows, useSession } from "../session";

type Job = Schemas["JobView"];
const POLL_MS = 1000;
const VOL_MODELS = ["garch", "gjr_garch", "egarch", "har_rv", "ewma"] as const;

/** The version's headline figures: its out-of-sample losses beside the baseline's, and the verdict. */
function metricText(m: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === "number" && k !== "horizon_days") parts.push(`${k} ${v.toPrecision(4)}`);
    else if (v && typeof v === "object" && !Array.isArray(v) && (k === "model" || k === "baseline"))
      for (const [kk, vv] of Object.entries(v)) if (typeof vv === "number") parts.push(`${k} ${kk} ${vv.toPrecision(4)}`);
  }
  return parts.slice(0, 6).join(" · ") || "–";
}

/** The ML engine's registry: models with versions, stages and metrics; promote a version; train a
 * volatility model as a job and follow its progress. */
export function Models() {
  const { api, identity } = useSession();
  const models = useAsync(async () => unwrap(await api.POST("/api/v1/ml/list_models", { body: { limit: 100 } })).items, [api]);
  const [name, setName] = useState("vol-aapl");
  const [symbol, setSymbol] = useState("AAPL");
  const [modelType, setModelType] = useState<(typeof VOL_MODELS)[number]>("garch");
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const canCompute = allows(identity, "compute");

  useTopic("events.job.ml.*", (e) => {
    const p = e.payload as unknown as Job;
    if (job && p.id === job.id) setJob((j) => (j ? { ...j, ...p } : j));
  });
  useEffect(() => {
    if (!job) return;
    if (job.status === "succeeded" || job.status === "failed" || job.status === "cancelled") {
      models.reload();
      return;
    }
    const t = setTimeout(async () => {
      const r = await api.POST("/api/v1/ml/get_job", { body: { job_id: job.id } });
      if (r.data) setJob(r.data);
    }, POLL_MS);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, job]);

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
        <h2>Models</h2>
        <Loaded state={models} empty={(m) => m.length === 0} emptyText="No models registered yet: train one below.">
          {(items) => (
            <table data-testid="models">
              <thead><tr><th>model</th><th>task</th><th>version</th><th>type</th><th>stage</th><th>trained on</th><th>out-of-sample metrics</th><th /></tr></thead>
              <tbody>
                {items.flatMap((m) =>
                  m.versions.map((v) => (
                    <tr key={`${m.name}-${v.version}`} data-model={m.name} data-stage={v.stage}>
                      <td>{m.name}</td><td>{m.task}</td><td>{v.version}</td><td>{v.model_type}</td>
                      <td className={v.stage === "production" ? "status-ok" : ""}>{v.stage}</td>
                      <td>{v.n_train} rows{v.train_start ? ` ${v.train_start} – ${v.train_end}` : ""}</td>
                      <td className="mono wrap" title={typeof v.metrics.verdict === "string" ? v.metrics.verdict : undefined}>
                        {metricText(v.metrics)}
                        {typeof v.metrics.verdict === "string" && <div className="muted">{v.metrics.verdict}</div>}
                      </td>
                      <td>
                        {v.stage !== "production" && (
                          <button className="small" disabled={!allows(identity, "data-admin")}
                            title={allows(identity, "data-admin") ? "make this version the production one" : "needs the data-admin scope"}
                            onClick={() => void act(async () => {
                              unwrap(await api.POST("/api/v1/ml/promote_model_version", { body: { name: m.name, version: v.version, stage: "production", reason: "dashboard" } }));
                              models.reload();
                            })}>
                            promote
                          </button>
                        )}
                      </td>
                    </tr>
                  )),
                )}
              </tbody>
            </table>
          )}
        </Loaded>
        {error && <p className="error" role="alert">{error}</p>}
      </section>
      <section>
        <h2>Train a volatility model</h2>
        <form className="inline" aria-label="train" onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            const model = modelType === "har_rv" ? { model_type: "har_rv" } : modelType === "ewma" ? { model_type: "ewma" } : { model_type: modelType };
            setJob(unwrap(await api.POST("/api/v1/ml/train_volatility_model", {
              body: { name, data: { symbol }, model } as Schemas["TrainVolatilityRequest"],
            })));
          });
        }}>
          <input aria-label="model name" value={name} onChange={(e) => setName(e.target.value)} />
          <input aria-label="model symbol" value={symbol} onChange={(e) => setSymbol(e.target.value.toUpperCase())} size={8} />
          <select aria-label="model type" value={modelType} onChange={(e) => setModelType(e.target.value as (typeof VOL_MODELS)[number])}>
            {VOL_MODELS.map((t) => <option key={t}>{t}</option>)}
          </select>
          <button type="submit" disabled={!canCompute || (job !== null && (job.status === "queued" || job.status === "running"))}>Train</button>
        </form>
        {job && (
          <div data-testid="training-job" data-status={job.status}>
            <progress max={1} value={job.progress} /> {Math.round(job.progress * 100)}% · {job.status}
            {job.message ? ` · ${job.message}` : ""}
            {job.error && <p className="error">{job.error}</p>}
          </div>
        )}
      </section>
    </div>
  );
}
