/**
 * Runs the conformance suite against one adapter under whichever runtime executes this file:
 *   node --import tsx test/conformance/run.ts node
 *   bun test/conformance/run.ts bun-native | bun-node-compat
 *   deno run -A --unstable-net test/conformance/run.ts deno-native | deno-node-compat
 * Prints one line per check and exits non-zero when any check fails.
 * `SLUICE_BLACKHOLE_PORT` names a loopback port that never answers a SYN (for the timeout check);
 * `SLUICE_CONFORMANCE_ONLY` runs the checks whose name contains it.
 */
import type { SocketAdapter } from "../../src/proxy/adapter.ts";
import { runConformance } from "./suite.ts";

/**
 * Where each adapter lives and what builds it. The specifiers are computed so that the Node type-check
 * of `test/` does not follow them into `runtime/bun` and `runtime/deno`, which are typed against their
 * own runtime's globals (checked by `deno check` and `runtime/bun/tsconfig.json`).
 */
const adapterModules: Record<string, [path: string, factory: string]> = {
  node: ["../../runtime/node/socket-adapter.ts", "createNodeSocketAdapter"],
  "bun-native": ["../../runtime/bun/socket-adapter.ts", "createBunSocketAdapter"],
  "bun-node-compat": ["../../runtime/bun/node-compat-adapter.ts", "createBunNodeCompatAdapter"],
  "deno-native": ["../../runtime/deno/socket-adapter.ts", "createDenoSocketAdapter"],
  "deno-node-compat": ["../../runtime/deno/node-compat-adapter.ts", "createDenoNodeCompatAdapter"],
};

async function adapterNamed(name: string): Promise<SocketAdapter> {
  const entry = adapterModules[name];
  if (entry === undefined) throw new Error(`unknown adapter ${name}; one of ${Object.keys(adapterModules).join(", ")}`);
  const [path, factory] = entry;
  const module = (await import(path)) as Record<string, () => SocketAdapter | Promise<SocketAdapter>>;
  return await module[factory]!();
}

const name = process.argv[2] ?? "";
const blackhole = Number(process.env.SLUICE_BLACKHOLE_PORT ?? "");
const adapter = await adapterNamed(name);
console.log(`# ${adapter.name} on ${adapter.runtime}`);
const results = await runConformance(
  adapter,
  { blackholePort: Number.isInteger(blackhole) && blackhole > 0 ? blackhole : undefined },
  (result) => {
    const line = `${result.ok ? "ok" : "not ok"} - ${result.name} (${result.ms} ms)`;
    console.log(result.ok ? line : `${line}: ${result.detail}`);
  },
  process.env.SLUICE_CONFORMANCE_ONLY || undefined,
);
const failed = results.filter((result) => !result.ok).length;
console.log(`# ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
