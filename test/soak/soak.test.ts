/**
 * The soak harness: its verdict catches what it is there to catch (synthetic figures with a leak, a
 * loss, a corruption, a dead process), and a 2-minute soak of a real deployment (control plane on
 * PostgreSQL, two gateways, Redis, upstreams, every fault) passes that verdict.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { excused, Ledger } from "../../bench/soak/ledger.ts";
import type { SoakReport } from "../../bench/soak/soak.ts";
import {
  FD_LIMIT,
  judgeGrowth,
  latencyPerMinute,
  processFigures,
  RSS_LIMIT,
  type Sample,
  verdict,
} from "../../bench/soak/verdict.ts";
import { ROOT } from "../fixtures/processes.ts";

const MiB = 1024 * 1024;
/** one sample every 2 s for `seconds`, value from `f(t)` */
const series = (seconds: number, f: (t: number) => number): Sample[] =>
  Array.from({ length: seconds / 2 + 1 }, (_, i) => ({ t: i * 2, value: f(i * 2) }));

test("growth: a steady fd leak after warm-up is caught, a flat noisy series is not", () => {
  // 1 fd every 5 s on top of ±10 of session churn
  const leak = judgeGrowth(
    series(600, (t) => 60 + t / 5 + (t % 14) - 7),
    FD_LIMIT,
    150,
  );
  assert.equal(leak.growing, true, JSON.stringify(leak));
  const flat = judgeGrowth(
    series(600, (t) => 60 + ((t * 7919) % 23) - 11),
    FD_LIMIT,
    150,
  );
  assert.equal(flat.growing, false, JSON.stringify(flat));
});

test("growth: an RSS leak is caught; a GC sawtooth and growth that stopped during warm-up are not", () => {
  const leak = judgeGrowth(
    series(600, (t) => 150 * MiB + t * 0.2 * MiB),
    RSS_LIMIT,
    150,
  );
  assert.equal(leak.growing, true, JSON.stringify(leak));
  const sawtooth = judgeGrowth(
    series(600, (t) => 150 * MiB + (t % 60) * 0.5 * MiB),
    RSS_LIMIT,
    150,
  );
  assert.equal(sawtooth.growing, false, JSON.stringify(sawtooth));
  const warmup = judgeGrowth(
    series(600, (t) => 100 * MiB + Math.min(t, 120) * MiB),
    RSS_LIMIT,
    150,
  );
  assert.equal(warmup.growing, false, JSON.stringify(warmup));
  assert.equal(
    judgeGrowth(
      series(20, (t) => t * MiB),
      RSS_LIMIT,
      0,
    ).skipped,
    "too few samples",
  );
});

test("verdict: a lost untouched session, a corruption, a dead process or a leak each fail the run", () => {
  const healthy = processFigures(
    1,
    series(600, () => 150 * MiB),
    series(600, () => 60),
    150,
  );
  const base = {
    sessions: { started: 100, completed: 100, failedByCause: {} },
    lostUntouched: 0,
    corrupted: 0,
    processes: { "gateway-1": healthy },
  };
  assert.deepEqual(verdict(base), { ok: true, reasons: [] });
  assert.match(verdict({ ...base, lostUntouched: 2 }).reasons.join(), /2 session\(s\) lost that no fault touched/);
  assert.match(verdict({ ...base, corrupted: 1 }).reasons.join(), /different from what they sent/);
  assert.match(
    verdict({ ...base, processes: { "gateway-1": { ...healthy, died: "exit 1" } } }).reasons.join(),
    /gateway-1 \(pid 1\) died/,
  );
  const leaking = processFigures(
    1,
    series(600, () => 150 * MiB),
    series(600, (t) => 60 + t / 5),
    150,
  );
  assert.match(verdict({ ...base, processes: { "gateway-1": leaking } }).reasons.join(), /open fds keep growing/);
  assert.match(
    verdict({ ...base, sessions: { started: 10, completed: 0, failedByCause: {} } }).reasons.join(),
    /no session completed/,
  );
});

test("ledger: a killed node excuses its sessions and the not yet attached ones; a config change excuses nothing", () => {
  const ledger = new Ledger();
  const onKilled = ledger.open("stream", 0);
  const onOther = ledger.open("stream", 1);
  const unattached = ledger.open("stream", 0);
  const otherService = ledger.open("reqres", 0);
  ledger.attach(onKilled.id, "stream-1");
  ledger.attach(onOther.id, "stream-2");
  ledger.attach(otherService.id, "reqres-1");
  assert.equal(ledger.nodeKilled("stream", "stream-1"), 2);
  ledger.touch("config-change", ["stream", "reqres"]);
  for (const r of [onKilled, onOther, unattached, otherService]) ledger.close(r, "failed", "ECONNRESET");
  assert.deepEqual(
    [onKilled, onOther, unattached, otherService].map(excused),
    [true, false, true, false],
    "only sessions the killed node could have carried are excused",
  );
  ledger.begin("control-plane-down", ["udp"]);
  assert.deepEqual([...ledger.open("udp", 0).tags], ["control-plane-down"], "new sessions carry an ongoing fault");
});

test("latency per minute: p50 and p99 per kind", () => {
  const samples = Array.from({ length: 100 }, (_, i) => ({ atS: 61, kind: "reqres", ms: i + 1 }));
  assert.deepEqual(latencyPerMinute(samples), [{ minute: 1, kind: "reqres", count: 100, p50_ms: 50, p99_ms: 99 }]);
});

test("a 2-minute soak of a real deployment under faults loses no untouched session and does not grow", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-soak-test-"));
  const out = join(dir, "report.json");
  let passed = false;
  try {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/soak/run.ts", "--duration", "2m", "--out", out], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 8 * 60_000);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(timer);
    t.diagnostic(
      output
        .split("\n")
        .filter((l) => !l.startsWith("[soak]"))
        .join("\n"),
    );
    assert.notEqual(code, 2, `the soak could not run:\n${output}`);
    const report = JSON.parse(await readFile(out, "utf8")) as SoakReport;
    assert.deepEqual(report.verdict.reasons, [], output);
    assert.equal(code, 0);
    assert.equal(report.lostUntouched, 0);
    assert.equal(report.corrupted, 0);
    for (const kind of ["stream", "slow-reader", "idle", "reqres", "shortconn", "udp"]) {
      assert.ok((report.sessions.by_kind[kind]?.completed ?? 0) > 0, `some ${kind} sessions completed`);
    }
    assert.ok((report.sessions.by_kind.reset?.reset ?? 0) > 0, "some streams were reset by their client");
    for (const fault of [
      "upstream-node-killed",
      "control-plane-stopped",
      "redis-stopped",
      "publish",
      "rollback",
      "runtime-upstream",
    ]) {
      assert.ok((report.faults.counts[fault] ?? 0) > 0, `the run injected ${fault}`);
    }
    assert.deepEqual(report.faults.errors, [], "every fault and config change applied");
    assert.ok(report.bytes.verified > 10 * MiB, "megabytes went through and were checked");
    for (const name of ["gateway-1", "gateway-2", "control-plane"]) assert.ok(report.processes[name], name);
    passed = true;
  } finally {
    // a failed run keeps its report and the Sluice processes' logs for whoever follows it up
    if (passed) await rm(dir, { recursive: true, force: true });
    else t.diagnostic(`report and logs kept in ${dir}`);
  }
});
