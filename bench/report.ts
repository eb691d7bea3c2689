/** Medians, ratios to nginx (16k and 256k) and to direct, the terminal tables and the JSON result. */

import type { Target } from "./targets/target.ts";
import type { FigureSpec } from "./workloads/workload.ts";
import { median } from "./workloads/workload.ts";

export interface TargetOutcome {
  name: string;
  kind: Target["kind"];
  /** Set when the target could not be started or configured: an error row, not a crash. */
  error?: string;
  runs: Record<string, number[]>;
  workload_errors: Record<string, string>;
  skipped: Record<string, string>;
}

export interface FigureResult {
  median: number;
  runs: number[];
  unit: string;
  better: "higher" | "lower";
  ratio_to_nginx?: number;
  ratio_to_nginx_256k?: number;
  ratio_to_direct?: number;
}

export interface TargetResult {
  name: string;
  kind: TargetOutcome["kind"];
  error?: string;
  figures: Record<string, FigureResult>;
  workload_errors: Record<string, string>;
  skipped: Record<string, string>;
}

const ADDED_LATENCY: FigureSpec[] = [
  { id: "added_latency_p50_ms", label: "added latency p50", unit: "ms", better: "lower" },
  { id: "added_latency_p99_ms", label: "added latency p99", unit: "ms", better: "lower" },
];

export function allFigures(specs: readonly FigureSpec[]): FigureSpec[] {
  const out = [...specs];
  const at = out.findIndex((f) => f.id === "latency_p99_ms");
  if (at >= 0) out.splice(at + 1, 0, ...ADDED_LATENCY);
  return out;
}

export function summarise(outcomes: readonly TargetOutcome[], specs: readonly FigureSpec[]): TargetResult[] {
  const medians = new Map<string, Map<string, number>>();
  for (const o of outcomes) {
    const m = new Map<string, number>();
    for (const [id, values] of Object.entries(o.runs)) if (values.length > 0) m.set(id, median(values));
    medians.set(o.name, m);
  }
  // Added latency is the proxy's p50/p99 minus the direct connection's, from the medians of one invocation.
  const direct = medians.get("direct");
  for (const o of outcomes) {
    const m = medians.get(o.name)!;
    for (const q of ["p50", "p99"]) {
      const own = m.get(`latency_${q}_ms`);
      const base = direct?.get(`latency_${q}_ms`);
      if (own !== undefined && base !== undefined && o.name !== "direct") m.set(`added_latency_${q}_ms`, own - base);
    }
  }
  const specOf = new Map(allFigures(specs).map((s) => [s.id, s]));
  const ratio = (ref: string, id: string, value: number) => {
    const base = medians.get(ref)?.get(id);
    return base === undefined || base === 0 ? undefined : value / base;
  };
  return outcomes.map((o) => {
    const figures: Record<string, FigureResult> = {};
    for (const [id, value] of medians.get(o.name)!) {
      const spec = specOf.get(id);
      figures[id] = {
        median: value,
        runs: o.runs[id] ?? [],
        unit: spec?.unit ?? "",
        better: spec?.better ?? "higher",
        ratio_to_nginx: ratio("nginx-16k", id, value),
        ratio_to_nginx_256k: ratio("nginx-256k", id, value),
        ratio_to_direct: ratio("direct", id, value),
      };
    }
    return {
      name: o.name,
      kind: o.kind,
      error: o.error,
      figures,
      workload_errors: o.workload_errors,
      skipped: o.skipped,
    };
  });
}

function formatValue(v: number): string {
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Figures as rows, targets as columns: one table of values, one of ratios to nginx-16k. */
export function renderTables(results: readonly TargetResult[], specs: readonly FigureSpec[]): string {
  const figures = allFigures(specs).filter((f) => results.some((r) => r.figures[f.id]));
  const header = ["figure", ...results.map((r) => r.name)];
  const cell = (r: TargetResult, id: string, pick: (f: FigureResult) => number | undefined) => {
    if (r.error) return "ERROR";
    const f = r.figures[id];
    const v = f ? pick(f) : undefined;
    return v === undefined ? "—" : formatValue(v);
  };
  const values = figures.map((f) => [
    `${f.label} (${f.unit}, ${f.better} better)`,
    ...results.map((r) => cell(r, f.id, (x) => x.median)),
  ]);
  const ratios = figures
    .filter((f) => !f.id.startsWith("added_") && f.unit !== "conns" && f.unit !== "×")
    .filter((f) => results.some((r) => r.figures[f.id]?.ratio_to_nginx !== undefined))
    .map((f) => [`${f.label} ÷ nginx-16k`, ...results.map((r) => cell(r, f.id, (x) => x.ratio_to_nginx))]);
  const problems: string[] = [];
  for (const r of results) {
    if (r.error) problems.push(`${r.name}: ERROR ${r.error}`);
    for (const [w, e] of Object.entries(r.workload_errors)) problems.push(`${r.name} / ${w}: ${e}`);
  }
  return [
    table(header, values),
    "",
    table(["ratio", ...results.map((r) => r.name)], ratios),
    ...(problems.length ? ["", "errors:", ...problems.map((p) => `  ${p}`)] : []),
  ].join("\n");
}
