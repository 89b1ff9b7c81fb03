import { describe, expect, it, vi } from "vitest";
import { globToRegExp, LiveSocket } from "./socket";

/** A stand-in for the browser's WebSocket that the test drives. */
class FakeSocket {
  static OPEN = 1;
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.onclose?.({ code: 1000 });
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(msg: object) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}

function harness(onRefused = vi.fn()) {
  vi.stubGlobal("WebSocket", FakeSocket);
  const sockets: FakeSocket[] = [];
  const live = new LiveSocket("ws://gw/ws", "ntk_k", () => {
    const s = new FakeSocket();
    sockets.push(s);
    return s as unknown as WebSocket;
  }, onRefused);
  return { live, sockets, onRefused };
}

describe("LiveSocket", () => {
  it("authenticates first, then subscribes, and delivers matching topics only", () => {
    const { live, sockets } = harness();
    const got: string[] = [];
    live.subscribe("events.fill.*", (e) => got.push(e.topic));
    live.start();
    const s = sockets[0]!;
    s.open();
    expect(JSON.parse(s.sent[0]!)).toEqual({ action: "auth", api_key: "ntk_k" });
    s.receive({ type: "authenticated", key: "desk" });
    expect(live.state).toBe("live");
    expect(JSON.parse(s.sent[1]!)).toEqual({ action: "subscribe", topics: ["events.fill.*"] });
    s.receive({ topic: "events.fill.a1", type: "fill", ts_ns: 1, payload: {} });
    s.receive({ topic: "events.order.default", type: "order.filled", ts_ns: 2, payload: {} });
    expect(got).toEqual(["events.fill.a1"]);
    live.stop();
  });
  it("reconnects with a doubling back-off after the connection drops, and subscribes again", () => {
    vi.useFakeTimers();
    const { live, sockets } = harness();
    live.subscribe("data.quotes.*.AAPL", () => undefined);
    live.start();
    sockets[0]!.open();
    sockets[0]!.receive({ type: "authenticated" });
    sockets[0]!.onclose?.({ code: 1006 });
    expect(live.state).toBe("down");
    vi.advanceTimersByTime(499);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    sockets[1]!.onclose?.({ code: 1006 }); // never opened: next wait is 1 s
    vi.advanceTimersByTime(999);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(3);
    sockets[2]!.open();
    sockets[2]!.receive({ type: "authenticated" });
    expect(sockets[2]!.sent.map((m) => JSON.parse(m).action)).toEqual(["auth", "subscribe"]);
    live.stop();
    vi.useRealTimers();
  });
  it("stops and signs out when the gateway refuses the key", () => {
    vi.useFakeTimers();
    const { live, sockets, onRefused } = harness();
    live.start();
    sockets[0]!.open();
    sockets[0]!.receive({ type: "error", code: "UNAUTHORIZED", detail: "send an API key" });
    sockets[0]!.onclose?.({ code: 4401 });
    vi.advanceTimersByTime(20_000);
    expect(sockets).toHaveLength(1);
    expect(onRefused).toHaveBeenCalledWith("UNAUTHORIZED: send an API key");
    vi.useRealTimers();
  });
  it("matches topics as the engine's glob does", () => {
    expect(globToRegExp("data.quotes.*.AAPL").test("data.quotes.SIM.AAPL")).toBe(true);
    expect(globToRegExp("data.quotes.*.AAPL").test("data.quotes.SIM.AAPLX")).toBe(false);
    expect(globToRegExp("events.risk*").test("events.risk.limits.3")).toBe(true);
  });
});
