/** A workload: one bounded load run against a target, giving one value for each of its figures. */
import type { Backends } from "../backends/index.ts";
import type { RunningTarget, Target } from "../targets/target.ts";

export interface FigureSpec {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly better: "higher" | "lower";
}

export interface WorkloadContext {
  readonly target: RunningTarget;
  readonly targetSpec: Target;
  readonly backends: Backends;
  readonly quick: boolean;
  /** Repetitions of the invocation (for workloads that take their own medians, such as route scale). */
  readonly runs: number;
  /** Routes the route-scale workload adds (10,000 unless --routes says otherwise). */
  readonly extraRoutes: number;
}

export interface Workload {
  /** Short name for --workloads. */
  readonly key: string;
  readonly name: string;
  readonly figures: readonly FigureSpec[];
  /** Part of the --quick subset. */
  readonly quick: boolean;
  /** Run once per target rather than once per round (expensive set-up, takes its own medians). */
  readonly once?: boolean;
  /** Why this target cannot carry the workload, or undefined when it can. */
  skip(ctx: WorkloadContext): string | undefined;
  run(ctx: WorkloadContext): Promise<Record<string, number>>;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
