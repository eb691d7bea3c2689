/** The health state the checks keep for one published service: its nodes by `host:port`, and its checks. */
import type { z } from "zod";
import type { upstreamChecks } from "../../config/schema.ts";
import type { NodeState } from "./node-state.ts";

export type UpstreamChecks = z.output<typeof upstreamChecks>;

export interface TrackedNode {
  readonly host: string;
  readonly port: number;
  readonly state: NodeState;
  /** ms since epoch when the active checker probes this node next */
  nextProbeAt: number;
  probing: boolean;
}

export interface TrackedService {
  readonly id: string;
  name: string;
  checks: UpstreamChecks;
  nodes: Map<string, TrackedNode>;
}

/** Called when a node's health flips, with the service it belongs to. */
export type FlipListener = (service: TrackedService, node: string, tracked: TrackedNode) => void;
