import { createContext, useContext, useEffect, useRef, useSyncExternalStore } from "react";
import { type Envelope, type LiveSocket, type LiveState } from "./socket";

export const LiveContext = createContext<LiveSocket | null>(null);

/** Call `fn` for every envelope on topics matching `patterns` while the component is mounted. Each
 * pattern must name a topic family (docs/streams.md); one the key's scopes do not cover is refused by
 * the engine with an error frame and simply delivers nothing. */
export function useTopic(patterns: string | readonly string[] | null, fn: (e: Envelope) => void): void {
  const live = useContext(LiveContext);
  const ref = useRef(fn);
  useEffect(() => {
    ref.current = fn;
  });
  const key = patterns === null ? "" : typeof patterns === "string" ? patterns : patterns.join("\n");
  useEffect(() => {
    if (!live || !key) return;
    const offs = key.split("\n").map((p) => live.subscribe(p, (e) => ref.current(e)));
    return () => offs.forEach((off) => off());
  }, [live, key]);
}

const noSocket = () => () => undefined;

export function useLiveState(): LiveState {
  const live = useContext(LiveContext);
  return useSyncExternalStore(
    live ? (cb) => live.onState(cb) : noSocket,
    () => live?.state ?? "down",
  );
}
