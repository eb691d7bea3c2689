/** The JSON API, same origin, with the session cookie and the session's CSRF token on every change. */

let csrf: string | null = null;

export interface ApiResult<T> {
  ok: boolean;
  status: number;
  body: T & { error_msg?: string };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function setCsrf(token: string | null): void {
  csrf = token;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await res.text();
  let parsed: unknown = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { error_msg: text || res.statusText };
  }
  if (res.status === 401 && path.startsWith("/api/")) window.dispatchEvent(new Event("sluice:signed-out"));
  return { ok: res.ok, status: res.status, body: parsed as T & { error_msg?: string } };
}

/** a call that must succeed: throws an ApiError with the API's message otherwise */
export async function must<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await call<T>(method, path, body);
  if (!r.ok) throw new ApiError(r.status, r.body.error_msg ?? `HTTP ${r.status}`);
  return r.body;
}

export async function list<T>(path: string): Promise<T[]> {
  return (await must<{ list: T[] }>("GET", path)).list;
}

export async function value<T>(path: string): Promise<T> {
  return (await must<{ value: T }>("GET", path)).value;
}
