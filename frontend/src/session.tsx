/** Sign-in state: the API key lives in sessionStorage only (gone with the tab, never in the bundle). */
import { createContext, useContext } from "react";
import type { Api } from "./api/client";
import type { GatewayConfig } from "./api/config";

export const KEY_STORAGE = "nautilus.apiKey";

export interface Identity {
  key_id: string;
  name: string;
  scopes: string[];
  account_ids: string[] | null;
}

export interface Session {
  api: Api;
  config: GatewayConfig;
  apiKey: string;
  identity: Identity;
  signOut: (reason?: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (s === null) throw new Error("useSession outside a signed-in session");
  return s;
}

/** Whether the key may do what needs `scope` (admin grants every scope, as on the server). */
export function allows(identity: Identity, scope: string): boolean {
  return identity.scopes.includes(scope) || identity.scopes.includes("admin");
}
