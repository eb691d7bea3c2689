/**
 * Sluice under one runtime and socket adapter, started the way package.json's start scripts do, configured
 * through its admin API only (DESIGN.md §2–§3): one stream service a backend, one route each, published to
 * the `default` group. Logging is at `warn` so no target pays for an access log (the peers have none).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { freePort } from "../../test/fixtures/ports.ts";
import { canConnect, delay, startProcess, tail, waitForTcp } from "../processes.ts";
import { waitForDnsAnswer } from "../workloads/dns-query.ts";
import { SluiceAdmin } from "./sluice-admin.ts";
import type { SluiceLaunch, Target } from "./target.ts";

export type SluiceRuntime = SluiceLaunch["runtime"];
export type SluiceAdapter = NonNullable<SluiceLaunch["adapter"]>;

export const REPO = join(import.meta.dirname, "..", "..");
const SCRIPT_OF: Record<Exclude<SluiceRuntime, "binary">, string> = {
  node: "start",
  bun: "start:bun",
  deno: "start:deno",
};
const BINARY = join(REPO, "dist", "sluice");

const built = new Set<SluiceRuntime>();
/**
 * Builds what the runtime's command runs, once per harness invocation: `npm start`'s compiled output (its
 * `prestart` step, which rebuilds only when a source changed) and the single binary (always rebuilt, so it
 * carries the code under test).
 */
function ensureBuilt(runtime: SluiceRuntime): void {
  if (built.has(runtime)) return;
  built.add(runtime);
  // every runtime unpacks a fresh data dir from the build's template (what `npm start`'s prestart makes)
  execFileSync(process.execPath, [join(REPO, "scripts", "build-pgdata-template.mjs"), "--if-stale"], {
    stdio: "inherit",
  });
  if (runtime === "node") {
    execFileSync(process.execPath, [join(REPO, "scripts", "build-node.mjs"), "--if-stale"], { stdio: "inherit" });
  } else if (runtime === "binary") {
    execFileSync(join(REPO, "scripts", "build-binary.sh"), [BINARY], { stdio: "inherit" });
  }
}

/**
 * The start script's command line, with `node`/`bun`/`deno` resolved to this Node and node_modules/.bin
 * (for `binary`: dist/sluice, which takes no profiling flags).
 */
export function startCommand(runtime: SluiceRuntime, profile?: string): { command: string; args: string[] } {
  ensureBuilt(runtime);
  if (runtime === "binary") return { command: BINARY, args: [] };
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const script = pkg.scripts[SCRIPT_OF[runtime]];
  if (!script) throw new Error(`package.json has no "${SCRIPT_OF[runtime]}" script`);
  const [tool, ...args] = script.split(/\s+/).filter(Boolean) as [string, ...string[]];
  const command = tool === "node" ? process.execPath : join(REPO, "node_modules", ".bin", tool);
  if (!profile) return { command, args };
  // `profile` is a directory of its own: Node writes one profile per thread (a loader worker too),
  // named by pid and thread, so a fixed file name would let the worker's profile overwrite the main one.
  // Open .cpuprofile in Chrome DevTools / speedscope or summarise with bench/profile-summary.ts; for
  // Deno's V8 log: node --prof-process FILE.
  mkdirSync(profile, { recursive: true });
  if (runtime === "deno") {
    const prof = `--prof,--no-logfile-per-isolate,--logfile=${join(profile, "deno.v8.log")}`;
    // the start script may carry V8 flags of its own: one --v8-flags with both
    const own = args.findIndex((a) => a.startsWith("--v8-flags="));
    if (own >= 0) args[own] = `${args[own]},${prof}`;
    else args.splice(args.indexOf("run") + 1, 0, `--v8-flags=${prof}`);
    return { command, args };
  }
  return { command, args: ["--cpu-prof", `--cpu-prof-dir=${profile}`, ...args] };
}

/** `workers` > 1 runs `sluice start --workers N`: N data-plane processes beside the primary */
export function sluiceTarget(name: string, runtime: SluiceRuntime, adapter?: SluiceAdapter, workers = 1): Target {
  return {
    name,
    kind: "sluice",
    sluice: { runtime, adapter },
    async start(backends, options) {
      const dataDir = mkdtempSync(join(tmpdir(), `sluice-bench-${name}-`));
      const key = randomBytes(16).toString("hex");
      let adminAddr = `127.0.0.1:${await freePort()}`;
      const statusAddr = `127.0.0.1:${await freePort()}`;
      const profile = options.profileDir ? join(options.profileDir, `${name}-${Date.now()}`) : undefined;
      const { command, args } = startCommand(runtime, profile);
      const proc = startProcess(
        name,
        command,
        [
          ...args,
          "--admin-addr",
          adminAddr,
          "--status-addr",
          statusAddr,
          "--data-dir",
          dataDir,
          "--log-level",
          process.env.SLUICE_BENCH_LOG_LEVEL ?? "warn",
          ...(adapter ? ["--runtime-adapter", adapter] : []),
          ...(workers > 1 ? ["--workers", String(workers)] : []),
        ],
        {
          cwd: REPO,
          env: { ...process.env, SLUICE_ADMIN_KEY: key },
          onLine(line) {
            if (!line.includes("admin api listening")) return;
            try {
              const entry = JSON.parse(line) as { addr?: string };
              if (entry.addr) adminAddr = entry.addr;
            } catch {
              // not a JSON log line
            }
          },
        },
      );
      const cleanup = async () => {
        await proc.stop();
        rmSync(dataDir, { recursive: true, force: true });
      };
      try {
        await waitForReady(statusAddr, proc.exited, () => proc.output());
        const admin = new SluiceAdmin(`http://${adminAddr}`, key);
        const groupId = await admin.defaultGroupId();

        const routeTo = async (label: string, scheme: "tcp" | "udp", backendPort: number, tls?: "terminate") => {
          const serviceId = await admin.createService(`bench-${label}`, scheme, backendPort);
          const port = await freePort();
          await admin.createRoute(serviceId, { name: `bench-${label}`, server_port: port, tls });
          await admin.publish(serviceId, groupId);
          return { serviceId, port };
        };
        const redis = await routeTo("redis", "tcp", backends.redisPort);
        const iperf = await routeTo("iperf", "tcp", backends.iperfPort);
        const hold = await routeTo("hold", "tcp", backends.holdPort);
        const pg = backends.pgDatabase ? await routeTo("pg", "tcp", backends.pgPort) : undefined;
        const dns = backends.dns ? await routeTo("dns", "udp", backends.dnsPort) : undefined;
        // TLS: routes without `sni` terminate with the group's (only) certificate, since `openssl s_time`
        // sends no SNI; the path is the same as with one (ClientHello peeked, certificate chosen, handshake).
        if (backends.tls) {
          const { name: tlsName, cert, key } = backends.certificate;
          await admin.createSsl(groupId, [tlsName], cert, key);
        }
        const tls = backends.tls ? await routeTo("tls", "tcp", backends.redisPort, "terminate") : undefined;
        const tlsBulk = backends.tls ? await routeTo("tlsbulk", "tcp", backends.sourcePort, "terminate") : undefined;
        const tcpPorts = [redis.port, iperf.port, hold.port, pg?.port, tls?.port, tlsBulk?.port];
        for (const port of tcpPorts.filter((p) => p !== undefined)) {
          await waitForTcp(port, 15_000, proc);
        }
        if (dns && !(await waitForDnsAnswer(dns.port, 15_000)))
          throw new Error(`udp route on ${dns.port} gave no DNS answer`);

        let extraRoutes = 0;
        return {
          ports: {
            redis: redis.port,
            iperf: iperf.port,
            hold: hold.port,
            pg: pg?.port,
            dns: dns?.port,
            tls: tls?.port,
            tlsBulk: tlsBulk?.port,
          },
          pid: proc.pid,
          controlPlane: {
            async publishToAcceptMs() {
              const serviceId = await admin.createService(`bench-publish-${Date.now()}`, "tcp", backends.redisPort);
              const port = await freePort();
              await admin.createRoute(serviceId, { name: "bench-publish", server_port: port });
              const start = performance.now();
              await admin.publish(serviceId, groupId);
              return waitAccepting(port, start, 10_000);
            },
            async addRoutes(count) {
              const first = extraRoutes;
              extraRoutes += count;
              let next = first;
              const worker = async () => {
                while (next < first + count) {
                  const i = next++;
                  await admin.createRoute(redis.serviceId, {
                    name: `bench-scale-${i}`,
                    server_port: redis.port,
                    remote_addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`,
                  });
                }
              };
              await Promise.all(Array.from({ length: 8 }, worker));
              // A catch-all route on a fresh port in the same publish tells when the new config is live.
              const sentinel = await freePort();
              await admin.createRoute(redis.serviceId, { name: `bench-sentinel-${first}`, server_port: sentinel });
              const start = performance.now();
              await admin.publish(redis.serviceId, groupId);
              return waitAccepting(sentinel, start, 120_000);
            },
          },
          output: () => proc.output(),
          stop: cleanup,
        };
      } catch (err) {
        const output = proc.output();
        await cleanup();
        throw new Error(`${(err as Error).message}${output ? `\n  ${name} output: ${tail(output, 400)}` : ""}`);
      }
    },
  };
}

export async function waitForReady(statusAddr: string, exited: Promise<string>, output: () => string): Promise<void> {
  let exitCode: string | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  const deadline = Date.now() + 90_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`exited (${exitCode}) before ready: ${tail(output())}`);
    try {
      const res = await fetch(`http://${statusAddr}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `readyz ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await delay(200);
  }
  throw new Error(`not ready within 90 s (${last})`);
}

/** Milliseconds from `start` until `port` accepts, polling every few milliseconds. */
async function waitAccepting(port: number, start: number, timeoutMs: number): Promise<number> {
  while (performance.now() - start < timeoutMs) {
    if (await canConnect(port, 200)) return performance.now() - start;
    await delay(5);
  }
  throw new Error(`port ${port} did not accept within ${timeoutMs} ms of the publish`);
}
