/** Where the gateway is: the dashboard's server says which port (NAUTILUS_PORT_OFFSET moves it); the
 * host is the one this page was loaded from, so the browser's origin is one the gateway allows. */
export interface GatewayConfig {
  apiUrl: string;
  wsUrl: string;
}

export async function loadConfig(): Promise<GatewayConfig> {
  const r = await fetch("/config.json", { cache: "no-store" });
  if (!r.ok) throw new Error(`the dashboard server did not give its configuration (HTTP ${r.status})`);
  const { gateway_port: port } = (await r.json()) as { gateway_port: number };
  const host = window.location.hostname.includes(":") ? `[${window.location.hostname}]` : window.location.hostname;
  return { apiUrl: `http://${host}:${port}`, wsUrl: `ws://${host}:${port}/ws` };
}
