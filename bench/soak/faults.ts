/**
 * The soak's fault schedule, run alongside the load: a config change every few seconds (publish,
 * rollback, runtime upstream), an upstream node killed and restarted, the control plane stopped and
 * started, the soak's Redis stopped and started. Every fault is logged with the time it happened and the
 * sessions it touched are tagged in the ledger.
 */
import type { Deployment } from "./deployment.ts";
import type { Ledger, ServiceName } from "./ledger.ts";

export interface FaultEvent {
  atS: number;
  fault: string;
  target: string;
  /** sessions tagged by this fault when it struck */
  touched?: number;
  error?: string;
}

export interface FaultSchedule {
  configChangeEveryS: number;
  nodeKillEveryS: number;
  nodeDownS: number;
  controlPlaneEveryS: number;
  controlPlaneDownS: number;
  redisEveryS: number;
  redisDownS: number;
}

/** Spaced so that a 2-minute run still sees each fault at least once. */
export function scheduleFor(durationS: number): FaultSchedule {
  const every = Math.max(45, Math.min(150, durationS / 4));
  return {
    configChangeEveryS: 4,
    nodeKillEveryS: 20,
    nodeDownS: 6,
    controlPlaneEveryS: every,
    controlPlaneDownS: 8,
    redisEveryS: every,
    redisDownS: 8,
  };
}

const ALL: ServiceName[] = ["stream", "reqres", "udp"];

export async function runFaults(
  dep: Deployment,
  ledger: Ledger,
  schedule: FaultSchedule,
  running: () => boolean,
  events: FaultEvent[],
): Promise<void> {
  let controlPlaneUp = true;
  /** the config change in flight: the control plane is stopped only once it has been answered */
  let change: Promise<unknown> = Promise.resolve();
  const record = (fault: string, target: string, extra: Partial<FaultEvent> = {}) =>
    events.push({ atS: Math.round(ledger.nowS() * 10) / 10, fault, target, ...extra });
  /** sleeps in small steps so the schedule stops promptly when the run ends */
  const wait = async (s: number) => {
    const end = performance.now() + s * 1000;
    while (running() && performance.now() < end) await new Promise((r) => setTimeout(r, 200));
  };

  const configChanges = async () => {
    const actions: [string, ServiceName, () => Promise<void>][] = [
      ["publish", "stream", async () => void (await dep.publish("stream"))],
      [
        "rollback",
        "reqres",
        async () => {
          const versions = await dep.versions("reqres");
          await dep.rollback("reqres", versions[Math.floor(Math.random() * versions.length)]!);
        },
      ],
      [
        "runtime-upstream",
        "stream",
        async () => {
          const nodes = dep.nodes.get("stream")!;
          const drop = Math.floor(Math.random() * nodes.length);
          const keep = Math.random() < 0.5 ? nodes : nodes.filter((_, i) => i !== drop);
          await dep.runtimeUpstream("stream", keep);
        },
      ],
      ["publish", "udp", async () => void (await dep.publish("udp"))],
      ["publish", "reqres", async () => void (await dep.publish("reqres"))],
    ];
    for (let i = 0; running(); i++) {
      await wait(schedule.configChangeEveryS);
      if (!running() || !controlPlaneUp) continue;
      const [fault, service, act] = actions[i % actions.length]!;
      try {
        change = act();
        await change;
        ledger.touch("config-change", [service]);
        record(fault, service);
      } catch (error) {
        record(fault, service, { error: (error as Error).message.slice(0, 200) });
      }
    }
  };

  const nodeKills = async () => {
    for (let i = 0; running(); i++) {
      await wait(schedule.nodeKillEveryS);
      if (!running()) break;
      const service = ALL[i % ALL.length]!;
      const nodes = dep.nodes.get(service)!;
      const node = nodes[Math.floor(i / ALL.length) % nodes.length]!;
      await node.kill();
      const touched = ledger.nodeKilled(service, node.name);
      // a UDP session that starts now may be given the dead node: no connect tells the gateway so
      const tag = service === "udp" ? "udp-node-down-at-start" : "node-down-at-start";
      ledger.begin(tag, [service], false);
      record("upstream-node-killed", node.name, { touched });
      await new Promise((r) => setTimeout(r, schedule.nodeDownS * 1000));
      await node.start();
      ledger.end(tag);
      record("upstream-node-restarted", node.name);
    }
  };

  const controlPlaneRestarts = async () => {
    await wait(schedule.controlPlaneEveryS / 2);
    while (running()) {
      controlPlaneUp = false;
      await change.catch(() => {});
      await dep.stopControlPlane();
      ledger.begin("control-plane-down", ALL);
      record("control-plane-stopped", "control-plane");
      await new Promise((r) => setTimeout(r, schedule.controlPlaneDownS * 1000));
      try {
        await dep.startControlPlane();
        record("control-plane-started", "control-plane");
      } catch (error) {
        record("control-plane-started", "control-plane", { error: (error as Error).message.slice(0, 300) });
        throw error;
      } finally {
        ledger.end("control-plane-down");
      }
      controlPlaneUp = true;
      await wait(schedule.controlPlaneEveryS);
    }
  };

  const redisRestarts = async () => {
    await wait((schedule.redisEveryS * 3) / 4);
    while (running()) {
      await dep.stopRedis();
      ledger.begin("redis-down", ["reqres"]);
      record("redis-stopped", "redis");
      await new Promise((r) => setTimeout(r, schedule.redisDownS * 1000));
      await dep.startRedis();
      ledger.end("redis-down");
      record("redis-started", "redis");
      await wait(schedule.redisEveryS);
    }
  };

  await Promise.all([configChanges(), nodeKills(), controlPlaneRestarts(), redisRestarts()]);
}
