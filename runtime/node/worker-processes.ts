/**
 * Worker processes for `--workers` (src/cli/workers/), by Node's own process APIs, which Bun and Deno
 * implement too:
 * - `cluster`: Node and Bun. On Node before 22.12 (no SO_REUSEPORT in `net`/`dgram`) the workers'
 *   listeners are the cluster's shared handles: the primary binds each port once and gives the socket
 *   to every worker, which accepts on it itself (`SCHED_NONE`, see `acceptInWorkers`). On Node ≥ 22.12
 *   and on Bun every worker binds its own socket with SO_REUSEPORT and the kernel spreads connections.
 * - `child_process.fork`: Deno (which has no `cluster`): every worker binds its own SO_REUSEPORT socket.
 *
 * A worker is this same program started again with `SLUICE_WORKER_ID` in its environment and an IPC
 * channel to the primary; `primary()` finds that channel.
 */
import type { ChildProcess } from "node:child_process";
import type { Cluster, Worker } from "node:cluster";
import type { PrimaryLink, WorkerLink, WorkerProcesses } from "../../src/cli/runtime-edge.ts";

export const WORKER_ID_ENV = "SLUICE_WORKER_ID";

export interface WorkerProcessOptions {
  /** how to start a worker: `cluster.fork`, or `child_process.fork` of `entry` */
  launcher: "cluster" | { entry: string; execArgv: string[] };
  /** each worker binds its own socket with SO_REUSEPORT */
  reusePort: boolean;
  portSharing: string;
}

/** Node's `net` and `dgram` take `reusePort` from 22.12 on (and 23.1). */
export function nodeHasReusePort(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

/**
 * Shared handles on Node < 22.12: the workers accept on the shared socket themselves (`SCHED_NONE`)
 * unless `NODE_CLUSTER_SCHED_POLICY` asks for a policy. Node's default on Linux is round-robin, where
 * the primary accepts every connection and passes it to a worker over IPC, which a worker acknowledges:
 * that costs more CPU per connection than one process without workers (docs/performance.md, "Workers").
 * With `SCHED_NONE` every worker's event loop watches the one listening socket; an idle worker is woken
 * with the others and the first to call accept() takes the connection, so connections spread over the
 * workers without the primary. Node freezes the policy at the first fork, so this runs before it.
 */
function acceptInWorkers(cluster: Cluster): string {
  const asked = process.env.NODE_CLUSTER_SCHED_POLICY;
  if (asked !== "rr" && asked !== "none") cluster.schedulingPolicy = cluster.SCHED_NONE;
  return cluster.schedulingPolicy === cluster.SCHED_NONE
    ? "each worker accepts"
    : "the primary accepts and passes connections round-robin";
}

export async function createWorkerProcesses(options: WorkerProcessOptions): Promise<WorkerProcesses> {
  const cluster = options.launcher === "cluster" ? (await import("node:cluster")).default : undefined;
  const childProcess = options.launcher === "cluster" ? undefined : await import("node:child_process");
  const accepting = cluster?.isPrimary === true && !options.reusePort ? `; ${acceptInWorkers(cluster)}` : "";
  return {
    portSharing: options.portSharing + accepting,
    reusePort: options.reusePort,
    spawn(workerId) {
      const env = { [WORKER_ID_ENV]: String(workerId) };
      if (cluster) return clusterLink(cluster.fork(env));
      const { entry, execArgv } = options.launcher as { entry: string; execArgv: string[] };
      return childLink(
        childProcess!.fork(entry, process.argv.slice(2), {
          env: { ...process.env, ...env },
          execArgv,
          stdio: "inherit",
        }),
      );
    },
    primary() {
      const id = process.env[WORKER_ID_ENV];
      if (id === undefined || typeof process.send !== "function") return undefined;
      return processLink(Number(id));
    },
  };
}

function clusterLink(worker: Worker): WorkerLink {
  return {
    pid: worker.process.pid ?? 0,
    send(message) {
      if (worker.isConnected()) worker.send(message as object);
    },
    onMessage: (handler) => void worker.on("message", handler),
    onExit: (handler) => void worker.on("exit", handler),
    kill: (signal) => void worker.process.kill(signal),
  };
}

function childLink(child: ChildProcess): WorkerLink {
  return {
    pid: child.pid ?? 0,
    send(message) {
      if (child.connected) child.send(message as object);
    },
    onMessage: (handler) => void child.on("message", handler),
    onExit: (handler) => void child.on("exit", handler),
    kill: (signal) => void child.kill(signal),
  };
}

function processLink(workerId: number): PrimaryLink {
  return {
    workerId,
    send(message) {
      if (process.connected) process.send!(message as object);
    },
    onMessage: (handler) => void process.on("message", handler),
    onDisconnect: (handler) => void process.on("disconnect", handler),
  };
}
