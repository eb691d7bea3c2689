/**
 * Runs the conformance suite against one adapter under whichever runtime executes this file:
 *   node --import tsx test/conformance/run.ts node
 *   bun test/conformance/run.ts bun-native | bun-node-compat
 *   deno run -A --unstable-net test/conformance/run.ts deno-native | deno-node-compat
 * Prints one line per check and exits non-zero when any check fails.
 * `SLUICE_BLACKHOLE_PORT` names a loopback port that never answers a SYN (for the timeout check);
 * `SLUICE_CONFORMANCE_ONLY` runs the checks whose name contains it.
 */
import { adapterNamed } from "./adapters.ts";
import { runConformance } from "./suite.ts";

const name = process.argv[2] ?? "";
const blackhole = Number(process.env.SLUICE_BLACKHOLE_PORT ?? "");
const adapter = await adapterNamed(name);
// An error no handler took (a socket error the adapter left unhandled) would crash a gateway: it fails the run.
const uncaught: string[] = [];
const recordUncaught = (error: unknown) => {
  uncaught.push(error instanceof Error ? `${(error as { code?: string }).code ?? ""} ${error.message}` : String(error));
};
process.on("uncaughtException", recordUncaught);
process.on("unhandledRejection", recordUncaught);
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
let failed = results.filter((result) => !result.ok).length;
if (uncaught.length > 0) {
  failed++;
  console.log(`not ok - no error left unhandled by the adapter: ${uncaught.join("; ")}`);
}
console.log(`# ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
