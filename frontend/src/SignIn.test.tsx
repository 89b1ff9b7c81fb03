import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SignIn } from "./SignIn";

const config = { apiUrl: "http://127.0.0.1:8001", wsUrl: "ws://127.0.0.1:8001/ws" };

function respond(status: number, body: unknown) {
  return vi.fn(async (req: Request) => {
    expect(req.url).toBe("http://127.0.0.1:8001/api/v1/auth/whoami");
    return new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": status === 200 ? "application/json" : "application/problem+json" },
    });
  });
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function signIn(key: string) {
  fireEvent.change(screen.getByLabelText("API key"), { target: { value: key } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("<SignIn>", () => {
  it("checks the key with whoami, sends it as X-API-Key and hands over the identity", async () => {
    const identity = { key_id: "k1", name: "desk", scopes: ["read", "trade"], account_ids: null };
    const fetch = respond(200, identity);
    vi.stubGlobal("fetch", fetch);
    const onSignedIn = vi.fn();
    render(<SignIn config={config} reason={null} onSignedIn={onSignedIn} />);
    signIn("ntk_good");
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith("ntk_good", identity));
    expect((fetch.mock.calls[0]![0] as Request).headers.get("X-API-Key")).toBe("ntk_good");
  });
  it("shows the API's reason when the key is refused, and keeps nothing", async () => {
    vi.stubGlobal("fetch", respond(401, { status: 401, code: "UNAUTHORIZED", detail: "unknown or revoked API key" }));
    const onSignedIn = vi.fn();
    render(<SignIn config={config} reason={null} onSignedIn={onSignedIn} />);
    signIn("ntk_bad");
    expect(await screen.findByRole("alert")).toHaveProperty("textContent", "UNAUTHORIZED: unknown or revoked API key");
    expect(onSignedIn).not.toHaveBeenCalled();
  });
  it("says the gateway did not answer (down, or this origin not allowed) on a network failure", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => { throw new TypeError("Failed to fetch"); }));
    render(<SignIn config={config} reason={null} onSignedIn={vi.fn()} />);
    signIn("ntk_any");
    expect((await screen.findByRole("alert")).textContent).toMatch(/did not answer.*NAUTILUS_ALLOWED_ORIGINS/);
  });
  it("refuses an empty key without calling the API, and shows why a session ended", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    render(<SignIn config={config} reason="the key lacks the 'trade' scope" onSignedIn={vi.fn()} />);
    expect(screen.getByRole("alert").textContent).toContain("Signed out: the key lacks the 'trade' scope");
    signIn("   ");
    expect((await screen.findByRole("alert")).textContent).toContain("Enter an API key");
    expect(fetch).not.toHaveBeenCalled();
  });
});
