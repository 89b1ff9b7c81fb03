/** The live stream: the gateway's /ws, authenticated with the first message, subscribed to topic
 * patterns, reconnecting with exponential back-off (0.5 s doubling to 10 s) and saying its state. */

export type LiveState = "connecting" | "live" | "down";
export interface Envelope {
  topic: string;
  type: string;
  ts_ns: number;
  payload: Record<string, unknown>;
}
type Listener = (e: Envelope) => void;

const BACKOFF_START_MS = 500;
/** Close codes of backend/auth/websocket.py. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
const BACKOFF_MAX_MS = 10_000;

/** fnmatch-style glob (`*`, `?`) as the websocket engine matches topics. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

export class LiveSocket {
  private ws: WebSocket | null = null;
  private readonly subs = new Map<number, { pattern: string; re: RegExp; fn: Listener }>();
  private nextId = 0;
  private backoffMs = BACKOFF_START_MS;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  state: LiveState = "connecting";
  lastError: string | null = null;
  private readonly stateListeners = new Set<(s: LiveState) => void>();

  constructor(
    private readonly url: string,
    private readonly apiKey: string,
    private readonly makeSocket: (url: string) => WebSocket = (u) => new WebSocket(u),
    /** The gateway refused the key (close 4401/4403): no point retrying. */
    private readonly onRefused: (reason: string) => void = () => undefined,
  ) {}

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
  }

  onState(fn: (s: LiveState) => void): () => void {
    this.stateListeners.add(fn);
    return () => {
      this.stateListeners.delete(fn);
    };
  }

  subscribe(pattern: string, fn: Listener): () => void {
    const id = this.nextId++;
    this.subs.set(id, { pattern, re: globToRegExp(pattern), fn });
    this.send({ action: "subscribe", topics: [pattern] });
    return () => {
      this.subs.delete(id);
      if (![...this.subs.values()].some((s) => s.pattern === pattern)) {
        this.send({ action: "unsubscribe", topics: [pattern] });
      }
    };
  }

  private setState(s: LiveState): void {
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private send(msg: object): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.state === "live") this.ws.send(JSON.stringify(msg));
  }

  private connect(): void {
    this.setState("connecting");
    const ws = this.makeSocket(this.url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ action: "auth", api_key: this.apiKey }));
    ws.onmessage = (ev: MessageEvent<string>) => {
      const msg = JSON.parse(ev.data) as Partial<Envelope> & { detail?: string; code?: string };
      if (msg.type === "authenticated") {
        this.backoffMs = BACKOFF_START_MS;
        this.setState("live");
        const patterns = [...new Set([...this.subs.values()].map((s) => s.pattern))];
        if (patterns.length) ws.send(JSON.stringify({ action: "subscribe", topics: patterns }));
        return;
      }
      if (msg.type === "error") {
        this.lastError = `${msg.code ?? "error"}: ${msg.detail ?? ""}`;
        return;
      }
      if (typeof msg.topic !== "string") return;
      const env = msg as Envelope;
      for (const s of this.subs.values()) if (s.re.test(env.topic)) s.fn(env);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState("down");
      if (this.closed) return;
      if (ev.code === CLOSE_UNAUTHORIZED || ev.code === CLOSE_FORBIDDEN) {
        this.closed = true;
        this.onRefused(this.lastError ?? `the live stream refused the key (${ev.code})`);
        return;
      }
      this.timer = setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    };
  }
}
