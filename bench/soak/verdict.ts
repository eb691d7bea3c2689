/**
 * The soak's judgement, kept free of sockets and processes so a unit test can feed it synthetic
 * figures: a linear fit that tells steady growth of RSS or open fds from noise, latency percentiles, and
 * the pass/fail verdict over a finished run's figures.
 */

export interface Sample {
  /** seconds since the process was first sampled */
  t: number;
  value: number;
}

export interface GrowthLimit {
  /** growth over the judged window that is tolerated whatever the level */
  absolute: number;
  /** growth tolerated as a fraction of the window's median level */
  relative: number;
}

/** RSS: allocators and garbage collectors move in steps of megabytes, so only a sustained rise counts. */
export const RSS_LIMIT: GrowthLimit = { absolute: 24 * 1024 * 1024, relative: 0.1 };
/** fds: the open count follows the live sessions; a leak of a few per minute adds up past this. */
export const FD_LIMIT: GrowthLimit = { absolute: 24, relative: 0.15 };

export interface Growth {
  /** samples the fit used (after warm-up, the later half) */
  samples: number;
  /** fitted rise across the judged window, in the sample's unit */
  rise: number;
  /** coefficient of determination of the fit: near 1 is a steady trend, near 0 is noise */
  r2: number;
  allowed: number;
  growing: boolean;
  /** why the series was not judged (too short) */
  skipped?: string;
}

/**
 * "Keeps growing": over the later half of the series after `warmupS` seconds, the least-squares line
 * rises by more than the limit AND explains at least half of the variance (a trend, not one spike or GC
 * sawtooth). Fewer than `minSamples` judged samples: not judged.
 */
export function judgeGrowth(series: readonly Sample[], limit: GrowthLimit, warmupS: number, minSamples = 10): Growth {
  const warm = series.filter((s) => s.t >= warmupS);
  const from = warm.length > 0 ? warm[0]!.t + (warm[warm.length - 1]!.t - warm[0]!.t) / 2 : 0;
  const window = warm.filter((s) => s.t >= from);
  if (window.length < minSamples) {
    return { samples: window.length, rise: 0, r2: 0, allowed: 0, growing: false, skipped: "too few samples" };
  }
  const n = window.length;
  const meanT = window.reduce((a, s) => a + s.t, 0) / n;
  const meanV = window.reduce((a, s) => a + s.value, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const s of window) {
    sxx += (s.t - meanT) ** 2;
    sxy += (s.t - meanT) * (s.value - meanV);
    syy += (s.value - meanV) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const r2 = sxx === 0 || syy === 0 ? 0 : (sxy * sxy) / (sxx * syy);
  const rise = slope * (window[n - 1]!.t - window[0]!.t);
  const sorted = window.map((s) => s.value).sort((a, b) => a - b);
  const median = sorted[Math.floor(n / 2)]!;
  const allowed = Math.max(limit.absolute, limit.relative * median);
  return { samples: n, rise, r2, allowed, growing: rise > allowed && r2 >= 0.5 };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface LatencyRow {
  minute: number;
  kind: string;
  count: number;
  p50_ms: number;
  p99_ms: number;
}

export function latencyPerMinute(samples: readonly { atS: number; kind: string; ms: number }[]): LatencyRow[] {
  const buckets = new Map<string, { minute: number; kind: string; values: number[] }>();
  for (const s of samples) {
    const minute = Math.floor(s.atS / 60);
    const key = `${minute}\t${s.kind}`;
    const b = buckets.get(key) ?? { minute, kind: s.kind, values: [] };
    buckets.set(key, b);
    b.values.push(s.ms);
  }
  return [...buckets.values()]
    .sort((a, b) => a.minute - b.minute || a.kind.localeCompare(b.kind))
    .map((b) => {
      const sorted = b.values.sort((x, y) => x - y);
      const round = (v: number) => Math.round(v * 100) / 100;
      return {
        minute: b.minute,
        kind: b.kind,
        count: sorted.length,
        p50_ms: round(percentile(sorted, 50)),
        p99_ms: round(percentile(sorted, 99)),
      };
    });
}

export interface ProcessFigures {
  pid: number;
  /** exit code or signal when the process died during the run without the harness stopping it */
  died?: string;
  rss: { start: number; peak: number; end: number; growth: Growth };
  fds: { start: number; peak: number; end: number; growth: Growth };
}

export function processFigures(pid: number, rss: readonly Sample[], fds: readonly Sample[], warmupS: number) {
  const summary = (series: readonly Sample[], limit: GrowthLimit) => ({
    start: series[0]?.value ?? 0,
    peak: series.reduce((m, s) => Math.max(m, s.value), 0),
    end: series[series.length - 1]?.value ?? 0,
    growth: judgeGrowth(series, limit, warmupS),
  });
  return { pid, rss: summary(rss, RSS_LIMIT), fds: summary(fds, FD_LIMIT) } satisfies ProcessFigures;
}

/** What the verdict reads from a run; the JSON report carries these and more. */
export interface RunFigures {
  sessions: { started: number; completed: number; failedByCause: Record<string, number> };
  /** sessions that failed while no excusing fault touched them */
  lostUntouched: number;
  /** sessions whose bytes came back different from what was sent, whatever touched them */
  corrupted: number;
  processes: Record<string, ProcessFigures>;
}

export function verdict(f: RunFigures): { ok: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (f.sessions.completed === 0) reasons.push("no session completed: the deployment did not carry traffic");
  if (f.lostUntouched > 0) reasons.push(`${f.lostUntouched} session(s) lost that no fault touched`);
  if (f.corrupted > 0) reasons.push(`${f.corrupted} session(s) got back bytes different from what they sent`);
  for (const [name, p] of Object.entries(f.processes)) {
    if (p.died) reasons.push(`${name} (pid ${p.pid}) died during the run: ${p.died}`);
    const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    if (p.rss.growth.growing) {
      reasons.push(
        `${name} RSS keeps growing: +${mib(p.rss.growth.rise)} over the judged window (allowed ${mib(p.rss.growth.allowed)}, r² ${p.rss.growth.r2.toFixed(2)})`,
      );
    }
    if (p.fds.growth.growing) {
      reasons.push(
        `${name} open fds keep growing: +${p.fds.growth.rise.toFixed(0)} over the judged window (allowed ${p.fds.growth.allowed.toFixed(0)}, r² ${p.fds.growth.r2.toFixed(2)})`,
      );
    }
  }
  return { ok: reasons.length === 0, reasons };
}
