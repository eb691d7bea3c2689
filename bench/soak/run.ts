/**
 * `npm run soak -- [--duration 10m] [--runtime node|bun|deno] [--out FILE]`: the soak-and-fault run.
 * Prints a summary and writes the full report as JSON; exits 1 when the verdict fails, 2 when the run
 * could not be set up.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, RUNTIMES, type SluiceRuntime } from "../../test/fixtures/processes.ts";
import { runSoak, type SoakReport } from "./soak.ts";

const USAGE = `Usage: npm run soak -- [options]

Starts a Sluice deployment as separate processes on loopback (a control plane on a fresh PostgreSQL
database on 127.0.0.1:5432, two gateways, its own redis-server and upstream servers on free ports),
drives mixed TCP/UDP traffic through it while injecting faults, and reports what was lost.

Options:
  --duration D     how long the load and faults run: 90s, 10m, 1h (default 10m)
  --runtime R      runtime of the Sluice processes: ${RUNTIMES.join(" | ")} (default node)
  --out FILE       where the JSON report goes (default soak-results/<time>-<runtime>.json);
                   the Sluice processes' logs go to FILE without .json, plus -logs/
  -h, --help       this text

Exit status: 0 the verdict passed; 1 a session no fault touched was lost or corrupted, a Sluice process
died, or RSS / open fds kept growing; 2 the deployment could not be started.`;

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`--duration '${text}' is not a duration like 90s, 10m or 1h`);
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? "s") as "s" | "m" | "h"];
  if (seconds < 30) throw new Error(`--duration '${text}' is shorter than the 30 s a run needs`);
  return seconds;
}

function summary(r: SoakReport): string {
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const lines = [
    `soak on ${r.runtime}, ${r.ran_s} s of ${r.duration_s} s: ${r.verdict.ok ? "PASS" : "FAIL"}`,
    `sessions: ${r.sessions.started} started, ${r.sessions.completed} completed, ${r.sessions.reset_by_client} reset by the client on purpose, ${r.sessions.failed} failed ${JSON.stringify(r.sessions.failedByCause)}`,
    `by kind: ${Object.entries(r.sessions.by_kind)
      .map(([k, v]) => `${k} ${v.completed}/${v.started}`)
      .join(", ")}`,
    `bytes: ${mib(r.bytes.sent)} sent, ${mib(r.bytes.verified)} verified; lost untouched: ${r.lostUntouched}; corrupted: ${r.corrupted}`,
    `faults: ${JSON.stringify(r.faults.counts)}${r.faults.errors.length ? `, ${r.faults.errors.length} failed to apply` : ""}`,
    `tags (sessions/failed): ${Object.entries(r.tags)
      .map(([k, v]) => `${k} ${v.sessions}/${v.failed}`)
      .join(", ")}`,
    "process          RSS start/peak/end (MiB)   fds start/peak/end   growth judged (RSS, fds)",
  ];
  for (const [name, p] of Object.entries(r.processes)) {
    const g = (x: typeof p.rss.growth, f: (v: number) => string) =>
      x.skipped ? "-" : `${x.growing ? "GROWING " : ""}${f(x.rise)} r²=${x.r2.toFixed(2)}`;
    lines.push(
      `${name.padEnd(16)} ${[p.rss.start, p.rss.peak, p.rss.end]
        .map((v) => (v / 1048576).toFixed(1))
        .join("/")
        .padEnd(
          26,
        )} ${[p.fds.start, p.fds.peak, p.fds.end].join("/").padEnd(20)} ${g(p.rss.growth, mib)}, ${g(p.fds.growth, (v) => v.toFixed(0))}${p.died ? ` DIED ${p.died}` : ""}`,
    );
  }
  lines.push("minute kind       count   p50 ms   p99 ms");
  for (const l of r.latency_per_minute) {
    lines.push(
      `${String(l.minute).padStart(6)} ${l.kind.padEnd(10)} ${String(l.count).padStart(6)} ${String(l.p50_ms).padStart(8)} ${String(l.p99_ms).padStart(8)}`,
    );
  }
  for (const reason of r.verdict.reasons) lines.push(`FAIL: ${reason}`);
  return lines.join("\n");
}

async function main(): Promise<number> {
  let values: { duration?: string; runtime?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        duration: { type: "string", default: "10m" },
        runtime: { type: "string", default: "node" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let durationS: number;
  try {
    durationS = parseDuration(values.duration!);
    if (!RUNTIMES.includes(values.runtime as SluiceRuntime)) {
      throw new Error(`--runtime '${values.runtime}' is not one of ${RUNTIMES.join(", ")}`);
    }
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const out =
    values.out ??
    join(ROOT, "soak-results", `${new Date().toISOString().replace(/[:.]/g, "-")}-${values.runtime}.json`);
  const log = (line: string) => console.log(`[soak] ${line}`);
  const logDir = `${out.replace(/\.json$/, "")}-logs`;
  let report: SoakReport;
  try {
    const abort = new AbortController();
    process.once("SIGINT", () => {
      log("interrupted: stopping the load and faults, then reporting");
      abort.abort();
    });
    report = await runSoak({ durationS, runtime: values.runtime as SluiceRuntime, log, logDir, signal: abort.signal });
  } catch (error) {
    console.error(`soak could not run: ${(error as Error).stack ?? error}`);
    return 2;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(summary(report));
  console.log(`report: ${out}\nSluice process logs: ${logDir}/`);
  return report.verdict.ok ? 0 : 1;
}

process.exit(await main());
