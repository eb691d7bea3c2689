/** What every benchmark target (direct, a peer proxy, a Sluice runtime) gives the workloads. */
import type { Backends } from "../backends/index.ts";

/** Where the load generators connect for each backend; absent means the target cannot carry it. */
export interface TargetPorts {
  readonly redis: number;
  readonly iperf: number;
  readonly hold: number;
  readonly pg: number | undefined;
  readonly dns: number | undefined;
  /** TLS terminated by the proxy, plaintext to redis (handshakes) and to the bulk source (throughput) */
  readonly tls: number | undefined;
  readonly tlsBulk: number | undefined;
}

/** Sluice-only measurements that go through the admin API. */
export interface ControlPlaneProbe {
  /** Publishes a new route on a fresh port; milliseconds from the publish request to the first accept. */
  publishToAcceptMs(): Promise<number>;
  /**
   * Adds `count` routes (distinct remote_addr /32s) on the redis route's port and publishes them; resolves
   * once the new config is applied, with the milliseconds from that publish to the config being live.
   */
  addRoutes(count: number): Promise<number>;
}

export interface RunningTarget {
  readonly ports: TargetPorts;
  /** Process whose RSS (with its children) is measured; undefined for the direct connection. */
  readonly pid: number | undefined;
  readonly controlPlane: ControlPlaneProbe | undefined;
  /** What the proxy process wrote so far (for error reports). */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Write a CPU profile of the Sluice process into this directory (peers ignore it). */
  readonly profileDir?: string;
}

/** How a Sluice target runs Sluice, for workloads that start Sluice processes of their own. */
export interface SluiceLaunch {
  /** `binary` is the Bun single binary dist/sluice (`npm run build:binary`) */
  readonly runtime: "node" | "bun" | "deno" | "binary";
  readonly adapter?: "native" | "node-compat";
}

export interface Target {
  readonly name: string;
  /** `floor`: a runtime's socket adapter with no pipeline (bench/targets/adapter-floor.ts) */
  readonly kind: "direct" | "peer" | "floor" | "sluice";
  /** set on Sluice targets */
  readonly sluice?: SluiceLaunch;
  start(backends: Backends, options: StartOptions): Promise<RunningTarget>;
}
