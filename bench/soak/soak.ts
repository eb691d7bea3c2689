/**
 * One soak run: start the deployment, drive the load and the faults for `durationS`, let the sessions
 * finish, sample the Sluice processes all along, and return the report with its verdict.
 */
import type { SluiceRuntime } from "../../test/fixtures/processes.ts";
import { Deployment, GATEWAY_HOSTS } from "./deployment.ts";
import { type FaultEvent, runFaults, scheduleFor } from "./faults.ts";
import { excused, Ledger, type SessionRecord } from "./ledger.ts";
import { DEFAULT_SHAPE, driveLoad } from "./load.ts";
import { ResourceSampler } from "./resources.ts";
import { type LatencyRow, latencyPerMinute, type ProcessFigures, processFigures, verdict } from "./verdict.ts";

export interface SoakOptions {
  durationS: number;
  runtime: SluiceRuntime;
  /** progress lines (one every 30 s and one per fault) */
  log: (line: string) => void;
  /** where each Sluice process's output is written after the run */
  logDir: string;
  /** ends the load and faults early (Ctrl-C); the report covers what ran */
  signal?: AbortSignal;
}

export interface SoakReport {
  runtime: SluiceRuntime;
  duration_s: number;
  /** how long the load and faults actually ran (shorter when a gateway died or the run was interrupted) */
  ran_s: number;
  started_at: string;
  ended_at: string;
  sessions: {
    started: number;
    completed: number;
    reset_by_client: number;
    failed: number;
    failedByCause: Record<string, number>;
    by_kind: Record<string, { started: number; completed: number; reset: number; failed: number }>;
  };
  /** sent: client → gateway; verified: gateway → client, each byte checked against what was expected */
  bytes: { sent: number; verified: number };
  lostUntouched: number;
  corrupted: number;
  /** up to 20 lost sessions no fault excused, for the reader to follow up */
  lost_untouched_examples: (Omit<SessionRecord, "tags"> & { tags: string[] })[];
  /** per tag: sessions that carried it and how many of those failed */
  tags: Record<string, { sessions: number; failed: number }>;
  faults: { counts: Record<string, number>; errors: FaultEvent[]; events: FaultEvent[] };
  processes: Record<string, ProcessFigures>;
  latency_per_minute: LatencyRow[];
  verdict: { ok: boolean; reasons: string[] };
}

const SAMPLE_EVERY_MS = 2000;
const DRAIN_LIMIT_MS = 90_000;

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { durationS, runtime, log } = options;
  const startedAt = new Date();
  const ledger = new Ledger();
  const dep = new Deployment(runtime, (id, node) => ledger.attach(id, node));
  const sampler = new ResourceSampler();
  const events: FaultEvent[] = [];
  const died = new Map<string, string>();
  let stopping = false;
  try {
    log(`starting the deployment on ${runtime} (PostgreSQL, redis-server, control plane, 2 gateways, upstreams)`);
    await dep.start();
    for (const g of dep.gateways) {
      void new Promise((r) => g.proc.child.once("exit", r)).then(() => {
        if (stopping) return;
        const how = `exit ${g.proc.child.exitCode ?? g.proc.child.signalCode} at ${Math.round(ledger.nowS())} s`;
        died.set(g.name, how);
        log(`${g.name} died (${how}): the verdict has failed, stopping the run; its log: ${options.logDir}/`);
      });
    }
    const processes = () => dep.sluiceProcesses().map(({ name, pid }) => ({ name, pid }));
    ledger.startClock();
    const t0 = performance.now();
    // a dead gateway fails the verdict already; running on would only pile up refused connections
    const running = () => performance.now() - t0 < durationS * 1000 && died.size === 0 && !options.signal?.aborted;
    sampler.sample(ledger.nowS(), processes());
    const sampling = setInterval(() => sampler.sample(ledger.nowS(), processes()), SAMPLE_EVERY_MS);
    const progress = setInterval(() => {
      const done = ledger.finished.length;
      const failed = ledger.finished.filter((r) => r.outcome === "failed").length;
      log(`${Math.round(ledger.nowS())} s: ${ledger.activeCount()} open, ${done} ended (${failed} failed)`);
    }, 30_000);
    let logged = 0;
    const faultLog = setInterval(() => {
      for (; logged < events.length; logged++) {
        const e = events[logged]!;
        if (e.fault.startsWith("publish") || e.fault === "rollback" || e.fault === "runtime-upstream") {
          if (!e.error) continue;
        }
        log(
          `${e.atS} s: ${e.fault} ${e.target}${e.touched !== undefined ? ` (${e.touched} sessions)` : ""}${e.error ? ` ERROR ${e.error}` : ""}`,
        );
      }
    }, 1000);
    const shape = { ...DEFAULT_SHAPE, idleMaxS: Math.min(DEFAULT_SHAPE.idleMaxS, durationS / 4) };
    const target = { hosts: GATEWAY_HOSTS, ports: dep.ports };
    const load = driveLoad(ledger, target, shape, running);
    await runFaults(dep, ledger, scheduleFor(durationS), running, events);
    const ranS = Math.round(ledger.nowS());
    log(`load stopped at ${ranS} s; waiting for ${ledger.activeCount()} sessions to end`);
    const drained = await Promise.race([
      load.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), DRAIN_LIMIT_MS)),
    ]);
    if (!drained) for (const rec of ledger.stillActive()) ledger.close(rec, "failed", "stuck-after-run");
    sampler.sample(ledger.nowS(), processes());
    clearInterval(sampling);
    clearInterval(progress);
    clearInterval(faultLog);
    return report(runtime, durationS, ranS, startedAt, ledger, sampler, events, died);
  } finally {
    stopping = true;
    await dep.stop().catch((e: Error) => log(`cleanup: ${e.message}`));
    dep.writeLogs(options.logDir);
  }
}

function report(
  runtime: SluiceRuntime,
  durationS: number,
  ranS: number,
  startedAt: Date,
  ledger: Ledger,
  sampler: ResourceSampler,
  events: FaultEvent[],
  died: Map<string, string>,
): SoakReport {
  const records = ledger.finished;
  const failedByCause: Record<string, number> = {};
  const byKind: SoakReport["sessions"]["by_kind"] = {};
  const tags: SoakReport["tags"] = {};
  const lost: SessionRecord[] = [];
  let corrupted = 0;
  for (const r of records) {
    byKind[r.kind] ??= { started: 0, completed: 0, reset: 0, failed: 0 };
    const k = byKind[r.kind]!;
    k.started++;
    if (r.outcome === "completed") k.completed++;
    else if (r.outcome === "reset") k.reset++;
    else {
      k.failed++;
      failedByCause[r.cause ?? "unknown"] = (failedByCause[r.cause ?? "unknown"] ?? 0) + 1;
      if (r.cause === "corrupt") corrupted++;
      if (!excused(r)) lost.push(r);
    }
    for (const tag of r.tags) {
      tags[tag] ??= { sessions: 0, failed: 0 };
      const t = tags[tag]!;
      t.sessions++;
      if (r.outcome === "failed") t.failed++;
    }
  }
  const warmupS = Math.max(60, durationS / 4);
  const processes: Record<string, ProcessFigures> = {};
  for (const s of sampler.series.values()) {
    const figures: ProcessFigures = processFigures(s.pid, s.rss, s.fds, warmupS);
    const death = died.get(s.name);
    if (death) figures.died = death;
    processes[s.name] = figures;
  }
  const counts: Record<string, number> = {};
  for (const e of events) counts[e.fault] = (counts[e.fault] ?? 0) + 1;
  const count = (o: SessionRecord["outcome"]) => records.filter((r) => r.outcome === o).length;
  const figures = {
    sessions: { started: records.length, completed: count("completed"), failedByCause },
    lostUntouched: lost.length,
    corrupted,
    processes,
  };
  return {
    runtime,
    duration_s: durationS,
    ran_s: ranS,
    started_at: startedAt.toISOString(),
    ended_at: new Date().toISOString(),
    sessions: {
      ...figures.sessions,
      reset_by_client: count("reset"),
      failed: count("failed"),
      by_kind: byKind,
    },
    bytes: {
      sent: records.reduce((a, r) => a + r.bytesSent, 0),
      verified: records.reduce((a, r) => a + r.bytesVerified, 0),
    },
    lostUntouched: lost.length,
    corrupted,
    lost_untouched_examples: lost.slice(0, 20).map((r) => ({ ...r, tags: [...r.tags] })),
    tags,
    faults: { counts, errors: events.filter((e) => e.error), events },
    processes,
    latency_per_minute: latencyPerMinute(ledger.latencies),
    verdict: verdict(figures),
  };
}
