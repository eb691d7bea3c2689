/**
 * The floor of a Sluice runtime: its socket adapter with no pipeline (test/runtimes/minimal-proxy.ts:
 * listen → connect → bridge, one upstream UDP socket per client), no routing, plugins, metrics or logs.
 * Beside a Sluice target in the same run it splits a ratio to nginx into what the runtime and adapter give
 * and what Sluice's pipeline costs above them (issue 16: "the pipeline's share above that floor should be
 * near zero"). No TLS, no control plane.
 */
import { join } from "node:path";
import { startProcess, tail } from "../processes.ts";
import { freeProxiedPorts, waitUntilProxying } from "./proxied-ports.ts";
import { REPO } from "./sluice.ts";
import type { Target } from "./target.ts";

const PROXY = join(REPO, "test", "runtimes", "minimal-proxy.ts");
const BIN = join(REPO, "node_modules", ".bin");
const COMMANDS: Record<string, string[]> = {
  node: [process.execPath, "--import", "tsx", PROXY, "node"],
  "bun-native": [join(BIN, "bun"), PROXY, "bun-native"],
  "deno-native": [
    join(BIN, "deno"),
    "run",
    "-A",
    "--unstable-net",
    "--no-prompt",
    "--cached-only",
    PROXY,
    "deno-native",
  ],
};

export function adapterFloorTarget(name: string, adapter: keyof typeof COMMANDS): Target {
  return {
    name,
    kind: "floor",
    async start(backends) {
      const ports = await freeProxiedPorts(backends);
      const routes = [
        `tcp:${ports.redis}=${backends.redisPort}`,
        `tcp:${ports.iperf}=${backends.iperfPort}`,
        `tcp:${ports.hold}=${backends.holdPort}`,
        ...(ports.pg ? [`tcp:${ports.pg}=${backends.pgPort}`] : []),
        ...(ports.dns ? [`udp:${ports.dns}=${backends.dnsPort}`] : []),
      ];
      const [command, ...args] = COMMANDS[adapter]!;
      const proc = startProcess(name, command!, [...args, ...routes], { cwd: REPO });
      try {
        await waitUntilProxying(ports, proc, 30_000);
      } catch (err) {
        const output = proc.output();
        await proc.stop();
        throw new Error(`${(err as Error).message}${output ? `\n  ${name} output: ${tail(output, 400)}` : ""}`);
      }
      return {
        ports: { ...ports, tls: undefined, tlsBulk: undefined },
        pid: proc.pid,
        controlPlane: undefined,
        output: () => proc.output(),
        stop: () => proc.stop(),
      };
    },
  };
}
