/**
 * Every client session of the soak, what happened to it, and which faults touched it. A fault either
 * excuses a failure (the session's upstream node was killed under it; the client reset it on purpose) or
 * is only recorded (a control-plane restart, a config change, a Redis outage, a slow reader: the
 * contract says none of these may cost an established session anything).
 */

export type SessionKind = "stream" | "slow-reader" | "reset" | "idle" | "reqres" | "shortconn" | "udp";
export type ServiceName = "stream" | "reqres" | "udp";

export const SERVICE_OF: Record<SessionKind, ServiceName> = {
  stream: "stream",
  "slow-reader": "stream",
  reset: "stream",
  idle: "stream",
  reqres: "reqres",
  shortconn: "reqres",
  udp: "udp",
};

/** Tags that explain a failed session; any other tag is recorded but excuses nothing. */
export const EXCUSING_TAGS = new Set(["upstream-killed", "client-reset", "udp-node-down-at-start"]);

export interface SessionRecord {
  id: string;
  kind: SessionKind;
  service: ServiceName;
  gateway: number;
  startedAtS: number;
  endedAtS?: number;
  node?: string;
  tags: Set<string>;
  outcome?: "completed" | "reset" | "failed";
  cause?: string;
  bytesSent: number;
  bytesVerified: number;
}

export class Ledger {
  private readonly active = new Map<string, SessionRecord>();
  readonly finished: SessionRecord[] = [];
  readonly latencies: { atS: number; kind: string; ms: number }[] = [];
  /** tags every new session of a service gets while a fault lasts (e.g. the control plane is down) */
  private readonly ongoing = new Map<string, Set<ServiceName>>();
  private seq = 0;
  private t0 = performance.now();

  /** the run's clock starts once the deployment is up */
  startClock(): void {
    this.t0 = performance.now();
  }

  nowS(): number {
    return (performance.now() - this.t0) / 1000;
  }

  open(kind: SessionKind, gateway: number): SessionRecord {
    const service = SERVICE_OF[kind];
    const record: SessionRecord = {
      id: `${kind}-${(++this.seq).toString(36)}`,
      kind,
      service,
      gateway,
      startedAtS: this.nowS(),
      tags: new Set(),
      bytesSent: 0,
      bytesVerified: 0,
    };
    for (const [tag, services] of this.ongoing) if (services.has(service)) record.tags.add(tag);
    if (kind === "slow-reader") record.tags.add("slow-reader");
    this.active.set(record.id, record);
    return record;
  }

  close(record: SessionRecord, outcome: "completed" | "reset" | "failed", cause?: string): void {
    if (record.outcome) return;
    record.outcome = outcome;
    record.cause = cause;
    record.endedAtS = this.nowS();
    this.active.delete(record.id);
    this.finished.push(record);
  }

  /** an upstream node saw the session's first bytes */
  attach(sessionId: string, node: string): void {
    const record = this.active.get(sessionId);
    if (record) record.node = node;
  }

  /**
   * A node of `service` dies: its sessions are touched, and so are the service's sessions not yet
   * attached to any node (their first bytes may have been on their way to it).
   */
  nodeKilled(service: ServiceName, node: string): number {
    let n = 0;
    for (const r of this.active.values()) {
      if (r.service === service && (r.node === node || r.node === undefined)) {
        r.tags.add("upstream-killed");
        n++;
      }
    }
    return n;
  }

  /** tags the active sessions of these services now */
  touch(tag: string, services: readonly ServiceName[]): void {
    for (const r of this.active.values()) if (services.includes(r.service)) r.tags.add(tag);
  }

  /** from now until `end`, every new (and, with `activeToo`, every open) session of these services carries `tag` */
  begin(tag: string, services: readonly ServiceName[], activeToo = true): void {
    this.ongoing.set(tag, new Set(services));
    if (activeToo) this.touch(tag, services);
  }

  end(tag: string): void {
    this.ongoing.delete(tag);
  }

  latency(kind: string, ms: number): void {
    this.latencies.push({ atS: this.nowS(), kind, ms });
  }

  activeCount(kind?: SessionKind): number {
    if (!kind) return this.active.size;
    let n = 0;
    for (const r of this.active.values()) if (r.kind === kind) n++;
    return n;
  }

  /** sessions still open: the harness closes them as failed ("stuck") when it stops waiting */
  stillActive(): SessionRecord[] {
    return [...this.active.values()];
  }
}

export function excused(record: SessionRecord): boolean {
  for (const tag of record.tags) if (EXCUSING_TAGS.has(tag)) return true;
  return false;
}
