/** The slice of Sluice's admin API the harness uses (DESIGN.md §3), with errors that say what failed. */

export class SluiceAdmin {
  constructor(
    private readonly base: string,
    private readonly key: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, expect = [200, 201]): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { "X-API-KEY": this.key, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  async defaultGroupId(): Promise<string> {
    const groups = await this.request<{ list: { id: string; name: string }[] }>("GET", "/api/gateway_groups");
    const group = groups.list.find((g) => g.name === "default");
    if (!group) throw new Error(`no "default" gateway group in ${JSON.stringify(groups).slice(0, 200)}`);
    return group.id;
  }

  async createService(name: string, scheme: "tcp" | "udp", backendPort: number): Promise<string> {
    const created = await this.request<{ value: { id: string } }>("POST", "/api/services", {
      name,
      type: "stream",
      upstream: { scheme, type: "roundrobin", nodes: [{ host: "127.0.0.1", port: backendPort, weight: 1 }] },
    });
    return created.value.id;
  }

  /** A certificate of the group (DESIGN.md §6): TLS-terminating routes serve it. */
  async createSsl(groupId: string, snis: readonly string[], cert: string, key: string): Promise<void> {
    await this.request("POST", `/api/gateway_groups/${groupId}/ssls`, { snis, cert, key });
  }

  async createRoute(
    serviceId: string,
    route: { name: string; server_port: number; remote_addr?: string; tls?: "terminate" },
  ) {
    await this.request("POST", `/api/services/${serviceId}/stream_routes`, route);
  }

  async publish(serviceId: string, groupId: string): Promise<void> {
    await this.request("POST", `/api/services/${serviceId}/publish`, { gateway_group_id: groupId });
  }
}
