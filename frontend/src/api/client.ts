/** The typed gateway client: openapi-fetch over the generated `schema.d.ts` (scripts/api_client.py).
 * Every call carries the signed-in key; a 401 or 403 signs the user out with the API's reason. */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Api = ReturnType<typeof createClient<paths>>;

/** RFC 9457 problem-JSON as the gateway sends it. */
export interface Problem {
  status: number;
  code?: string;
  title?: string;
  detail?: string;
  errors?: { field: string; reason: string }[];
}

export class ApiError extends Error {
  constructor(public readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
  }

  /** The reason the API gave for one field, if it named it. */
  fieldReason(field: string): string | undefined {
    const hit = this.problem.errors?.find((e) => e.field === field || e.field.endsWith(`.${field}`));
    if (hit) return hit.reason;
    return (this.problem as { field?: string }).field === field ? this.problem.detail : undefined;
  }
}

export function makeApi(baseUrl: string, apiKey: string, onAuthFailure: (reason: string) => void): Api {
  const client = createClient<paths>({ baseUrl });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set("X-API-Key", apiKey);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401 || response.status === 403) {
        void response
          .clone()
          .json()
          .then((p: Problem) => {
            // a 403 for one account or scope is the API saying no to this key: back to sign-in with why
            onAuthFailure(p.detail ?? `HTTP ${response.status}`);
          })
          .catch(() => onAuthFailure(`HTTP ${response.status}`));
      }
      return response;
    },
  };
  client.use(auth);
  return client;
}

/** The data of an openapi-fetch result, or an ApiError with the problem-JSON. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data !== undefined) return result.data;
  const body = (result.error ?? {}) as Partial<Problem>;
  throw new ApiError({ ...body, status: result.response.status });
}
