/** Loading, empty and error states, said once. */
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";

export interface Async<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Run `load` now and whenever `deps` change or `reload()` is called; keeps the last data while reloading. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  useEffect(() => {
    let live = true;
    setLoading(true);
    run()
      .then((d) => live && (setData(d), setError(undefined)))
      .catch((e: unknown) => live && setError(e instanceof Error ? e : new Error(String(e))))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [run, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

export function errorText(e: Error): string {
  if (e instanceof ApiError) {
    const p = e.problem;
    return `${p.code ?? `HTTP ${p.status}`}: ${p.detail ?? p.title ?? ""}`;
  }
  return e.message;
}

/** Shows the loading, error or empty state of `state`, else `children(data)`. */
export function Loaded<T>(props: {
  state: Async<T>;
  empty?: (d: T) => boolean;
  emptyText?: string;
  children: (d: T) => ReactNode;
}): ReactNode {
  const { data, error, loading } = props.state;
  if (error && data === undefined) return <p className="error" role="alert">{errorText(error)}</p>;
  if (data === undefined) return <p className="muted">{loading ? "Loading…" : "Nothing yet."}</p>;
  if (props.empty?.(data)) return <p className="muted empty">{props.emptyText ?? "Nothing here yet."}</p>;
  return (
    <>
      {error && <p className="error" role="alert">{errorText(error)}</p>}
      {props.children(data)}
    </>
  );
}
