/** A small admin-API client on `fetch` (Node, Bun, Deno), for `sluice apply` and `sluice dump`. */

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    message: string,
  ) {
    super(`${method} ${path} → ${status}: ${message}`);
    this.name = "AdminApiError";
  }
}

export class AdminClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly key: string | undefined,
  ) {
    this.base = baseUrl.replace(/\/+$/, "");
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.key) headers["x-api-key"] = this.key;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new AdminApiError(
        0,
        method,
        path,
        `admin API at ${this.base} unreachable (${cause ?? (error as Error).message})`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { error_msg: text.slice(0, 300) };
    }
    if (!response.ok) {
      const msg = (json as { error_msg?: string }).error_msg ?? text.slice(0, 300);
      throw new AdminApiError(response.status, method, path, msg);
    }
    return json as T;
  }

  /** every item of a paged list */
  async list<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    const pageSize = 100;
    for (let page = 1; page <= 10_000; page++) {
      const sep = path.includes("?") ? "&" : "?";
      const res = await this.request<{ list: T[]; total?: number }>(
        "GET",
        `${path}${sep}page=${page}&page_size=${pageSize}`,
      );
      out.push(...res.list);
      if (res.list.length < pageSize || (res.total !== undefined && out.length >= res.total)) break;
    }
    return out;
  }
}
