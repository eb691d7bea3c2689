/**
 * A worker process of `--workers N` (started by `WorkerPool` in the primary): one `Gateway` on its own
 * event loop, listening on the same ports as its siblings, fed every config version by the primary and
 * asking it for what must be one per process: node health (`SharedNodeHealth`) and limit-conn counts
 * (`ProcessCounts`). It serves no HTTP; the primary's status server answers for all workers. It stops
 * when the primary asks (after draining) or when the primary is gone; signals are the primary's to
 * handle, so a Ctrl-C reaching the whole process group does not cut the drain short.
 */
import type { GatewayConfig } from "../../config/types.ts";
import { createLogger } from "../../observability/logger.ts";
import { Gateway } from "../../proxy/gateway.ts";
import type { ProcessCounts } from "../../proxy/plugins/types.ts";
import type { PrimaryLink, RuntimeEdge } from "../runtime-edge.ts";
import { IpcPeer } from "./ipc-peer.ts";
import { type HealthView, STATE_INTERVAL_MS, type WorkerSettings, type WorkerState } from "./protocol.ts";
import { SharedNodeHealth } from "./shared-node-health.ts";

export async function runWorkerDataPlane(link: PrimaryLink, edge: RuntimeEdge): Promise<void> {
  const peer = new IpcPeer((message) => link.send(message));
  link.onMessage((message) => peer.receive(message));
  const health = new SharedNodeHealth(peer);
  const processCounts: ProcessCounts = {
    acquire: async (key) => (await peer.call("acquire", key)) as number,
    release: (key) => peer.notify("release", key),
  };
  let gateway: Gateway | undefined;
  let stateTimer: ReturnType<typeof setInterval> | undefined;
  const sendState = () => {
    if (!gateway) return;
    const state: WorkerState = { pid: process.pid, status: gateway.status(), report: gateway.report() };
    peer.notify("state", state);
  };
  const stop = async () => {
    clearInterval(stateTimer);
    await gateway?.stop();
  };

  edge.onShutdownSignal(() => {});
  link.onDisconnect(() => {
    peer.close("the primary is gone");
    void stop().finally(() => edge.exit(0));
  });

  peer.handle("init", async (body) => {
    const settings = body as WorkerSettings;
    const logger = createLogger(settings.logLevel).child({ worker: link.workerId });
    gateway = new Gateway({
      adapter: await edge.socketAdapter(settings.runtimeAdapter),
      logger,
      gatewayGroup: settings.gatewayGroup,
      drainTimeoutMs: settings.drainTimeoutMs,
      maxConnections: settings.maxConnections,
      listenAddr: settings.listenAddr,
      reusePort: settings.reusePort,
      metrics: settings.metrics,
      nodeHealth: health,
      runHealthChecks: false,
      processCounts,
    });
    stateTimer = setInterval(sendState, STATE_INTERVAL_MS);
    logger.info({ pid: process.pid, adapter: gateway.adapter.name }, "worker started");
    return { pid: process.pid };
  });
  peer.handle("apply", async (body) => {
    if (!gateway) throw new Error("worker not initialised");
    const report = await gateway.apply(body as GatewayConfig);
    sendState();
    return report;
  });
  peer.handle("health", (body) => health.update(body as HealthView));
  peer.handle("metrics", () => gateway?.metrics.registry.getMetricsAsJSON() ?? []);
  peer.handle("stop", async () => {
    await stop();
    // exit once the answer is on its way
    setTimeout(() => edge.exit(0), 50);
  });
  peer.notify("listening");
}
