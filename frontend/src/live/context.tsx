import { createContext, useContext, useEffect, useRef, useSyncExternalStore } from "react";
import { type Envelope, type LiveSocket, type LiveState } from "./socket";

export const LiveContext = createContext<LiveSocket | null>(null);

/** Call `fn` for every envelope on topics matching `pattern` while the component is mounted. */
export function useTopic(pattern: string | null, fn: (e: Envelope) => void): void {
  const live = useContext(LiveContext);
  const ref = useRef(fn);
  useEffect(() => {
    ref.current = fn;
  });
  useEffect(() => {
    if (!live || !pattern) return;
    return live.subscribe(pattern, (e) => ref.current(e));
  }, [live, pattern]);
}

const noSocket = () => () => undefined;

export function useLiveState(): LiveState {
  const live = useContext(LiveContext);
  return useSyncExternalStore(
    live ? (cb) => live.onState(cb) : noSocket,
    () => live?.state ?? "down",
  );
}
