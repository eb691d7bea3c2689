/**
 * A real Sluice deployment for the soak, as separate processes on loopback: a fresh PostgreSQL
 * database, one `sluice control-plane` on a fixed free port (so it can be stopped and started again at
 * the same URL), two `sluice gateway` processes (127.0.0.1 and 127.0.0.2, same route ports), the soak's
 * own redis-server on a free port for limit-conn `policy: redis`, and the upstream nodes of three
 * services: `stream` (3 echo nodes), `reqres` (2 request/response nodes, limit-conn via Redis) and `udp`
 * (2 UDP echo nodes).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../test/fixtures/ports.ts";
import {
  api,
  defaultGroupId,
  freshDatabase,
  type SluiceProcess,
  type SluiceRuntime,
  sluice,
  waitReady,
} from "../../test/fixtures/processes.ts";
import { type BenchProcess, startProcess, waitForTcp } from "../processes.ts";
import type { ServiceName } from "./ledger.ts";
import { type Attach, type NodeKind, UpstreamNode } from "./upstreams.ts";

export const GATEWAY_HOSTS = ["127.0.0.1", "127.0.0.2"] as const;

export interface SluiceRole {
  name: string;
  proc: SluiceProcess;
  status: string;
}

export class Deployment {
  readonly nodes = new Map<ServiceName, UpstreamNode[]>();
  readonly serviceIds = {} as Record<ServiceName, string>;
  readonly ports = {} as Record<ServiceName, number>;
  gatewayGroupId = "";
  controlPlane: SluiceRole | undefined;
  readonly gateways: SluiceRole[] = [];
  redis: BenchProcess | undefined;
  redisPort = 0;
  private adminPort = 0;
  private db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), "sluice-soak-"));
  /** every Sluice process started, restarts included, for the logs written after the run */
  readonly started: { name: string; proc: SluiceProcess }[] = [];

  constructor(
    readonly runtime: SluiceRuntime,
    private readonly attach: Attach,
  ) {}

  get admin(): string {
    return `127.0.0.1:${this.adminPort}`;
  }

  async start(): Promise<void> {
    this.db = await freshDatabase();
    this.redisPort = await freePort();
    await this.startRedis();
    const kinds: [ServiceName, NodeKind, number][] = [
      ["stream", "echo", 3],
      ["reqres", "reqres", 2],
      ["udp", "udp", 2],
    ];
    for (const [service, kind, count] of kinds) {
      const nodes = Array.from({ length: count }, (_, i) => new UpstreamNode(`${service}-${i + 1}`, kind, this.attach));
      for (const n of nodes) await n.start();
      this.nodes.set(service, nodes);
    }
    this.adminPort = await freePort();
    await this.startControlPlane();
    this.gatewayGroupId = await defaultGroupId(this.admin);
    const token = (
      await api<{ value: { token: string } }>(
        this.admin,
        "POST",
        `/api/gateway_groups/${this.gatewayGroupId}/token`,
        {},
      )
    ).value.token;
    for (const [i, host] of GATEWAY_HOSTS.entries()) {
      const proc = sluice(
        [
          "gateway",
          "--control-plane",
          `http://${this.admin}`,
          "--group",
          "default",
          "--data-dir",
          join(this.dir, `gateway-${i + 1}`),
          "--status-addr",
          "127.0.0.1:0",
          "--listen-addr",
          host,
        ],
        { SLUICE_GATEWAY_TOKEN: token },
        this.runtime,
      );
      this.started.push({ name: `gateway-${i + 1}`, proc });
      this.gateways.push({ name: `gateway-${i + 1}`, proc, status: await proc.addr("status api listening", 60_000) });
    }
    await Promise.all(this.gateways.map((g) => waitReady(g.status, 60_000)));
    await this.configure();
  }

  async startRedis(): Promise<void> {
    this.redis = startProcess("redis-server", "redis-server", [
      ...["--port", String(this.redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      ...["--dir", this.dir],
    ]);
    await waitForTcp(this.redisPort, 10_000, this.redis);
  }

  async stopRedis(): Promise<void> {
    await this.redis?.stop();
    this.redis = undefined;
  }

  async startControlPlane(): Promise<void> {
    const proc = sluice(
      ["control-plane", "--admin-addr", this.admin, "--status-addr", "127.0.0.1:0"],
      { DATABASE_URL: this.db!.url },
      this.runtime,
    );
    const runs = this.started.filter((s) => s.name.startsWith("control-plane")).length;
    this.started.push({ name: runs === 0 ? "control-plane" : `control-plane#${runs + 1}`, proc });
    const status = await proc.addr("status api listening", 60_000);
    await waitReady(status, 60_000);
    this.controlPlane = { name: "control-plane", proc, status };
  }

  async stopControlPlane(): Promise<void> {
    await this.controlPlane?.proc.stop("SIGTERM");
    this.controlPlane = undefined;
  }

  /** Services, routes (one port each on both gateways), two published versions of each. */
  private async configure(): Promise<void> {
    this.ports.stream = await freePort();
    this.ports.reqres = await freePort();
    this.ports.udp = await freePort("udp");
    const plugins: Record<ServiceName, Record<string, unknown>> = {
      stream: {},
      reqres: {
        "limit-conn": {
          ...{ conn: 200, burst: 0, default_conn_delay: 0.1, key_type: "var", key: "route_id" },
          ...{ policy: "redis", redis_host: "127.0.0.1", redis_port: this.redisPort, redis_timeout: 300 },
        },
      },
      udp: {},
    };
    for (const service of ["stream", "reqres", "udp"] as const) {
      const scheme = service === "udp" ? "udp" : "tcp";
      const svc = await api(this.admin, "POST", "/api/services", {
        name: `soak-${service}`,
        type: "stream",
        upstream: {
          scheme,
          type: service === "stream" ? "least_conn" : "roundrobin",
          nodes: this.nodeList(service),
          timeout: { connect: 2, send: 120, read: 120 },
        },
        plugins: plugins[service],
      });
      const id = svc.value.id as string;
      this.serviceIds[service] = id;
      await api(
        this.admin,
        "POST",
        `/api/services/${id}/stream_routes`,
        { name: `soak-${service}`, server_port: this.ports[service] },
        201,
      );
      await this.publish(service);
      await this.publish(service);
    }
    await this.gatewaysServe();
  }

  nodeList(service: ServiceName, only?: readonly UpstreamNode[]): { host: string; port: number; weight: number }[] {
    return (only ?? this.nodes.get(service)!).map((n) => ({ host: "127.0.0.1", port: n.port, weight: 1 }));
  }

  async publish(service: ServiceName): Promise<string> {
    const res = await api<{ value: { version: string } }>(
      this.admin,
      "POST",
      `/api/services/${this.serviceIds[service]}/publish`,
      { gateway_group_id: this.gatewayGroupId },
    );
    return res.value.version;
  }

  async rollback(service: ServiceName, version: string): Promise<void> {
    await api(
      this.admin,
      "POST",
      `/api/gateway_groups/${this.gatewayGroupId}/services/${this.serviceIds[service]}/rollback`,
      { version },
    );
  }

  async versions(service: ServiceName): Promise<string[]> {
    const res = await api<{ list: { version: string }[] }>(
      this.admin,
      "GET",
      `/api/gateway_groups/${this.gatewayGroupId}/services/${this.serviceIds[service]}/versions`,
    );
    return res.list.map((v) => v.version);
  }

  async runtimeUpstream(service: ServiceName, only: readonly UpstreamNode[]): Promise<void> {
    await api(
      this.admin,
      "PUT",
      `/api/gateway_groups/${this.gatewayGroupId}/services/${this.serviceIds[service]}/upstream`,
      { nodes: this.nodeList(service, only) },
    );
  }

  /** Waits until both gateways applied the group's current config version. */
  async gatewaysServe(timeoutMs = 30_000): Promise<void> {
    const { value } = await api<{ value: { version: number } }>(
      this.admin,
      "GET",
      `/api/gateway_groups/${this.gatewayGroupId}/config`,
    );
    const end = Date.now() + timeoutMs;
    for (const g of this.gateways) {
      for (;;) {
        const status = (await (await fetch(`http://${g.status}/status`)).json()) as { config_version?: number };
        if ((status.config_version ?? 0) >= value.version) break;
        if (Date.now() > end) throw new Error(`${g.name} did not apply config version ${value.version}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The Sluice processes now, by role (the control plane's pid changes at each restart). */
  sluiceProcesses(): { name: string; pid: number; proc: SluiceProcess }[] {
    const roles = [...this.gateways, ...(this.controlPlane ? [this.controlPlane] : [])];
    return roles.map((r) => ({ name: r.name, pid: r.proc.child.pid ?? -1, proc: r.proc }));
  }

  /** Writes each Sluice process's output to `dir/<name>.log`. */
  writeLogs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const { name, proc } of this.started) writeFileSync(join(dir, `${name}.log`), `${proc.lines.join("\n")}\n`);
  }

  async stop(): Promise<void> {
    await Promise.all([
      ...this.gateways.map((g) => g.proc.stop("SIGTERM")),
      this.controlPlane?.proc.stop("SIGTERM"),
      this.redis?.stop(),
    ]);
    for (const nodes of this.nodes.values()) for (const n of nodes) await n.kill();
    await this.db?.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
