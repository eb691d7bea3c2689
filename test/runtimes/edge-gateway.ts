/**
 * A gateway on one socket adapter fed a compiled config from a JSON file, for the cross-runtime TLS and
 * PROXY-protocol test (the declarative file does not carry certificates). Runs under node, bun or deno:
 *   <runtime> test/runtimes/edge-gateway.ts ADAPTER CONFIG_JSON
 * Prints `applied ADAPTER`, exits when stdin closes.
 */
import { readFileSync } from "node:fs";
import pino from "pino";
import type { GatewayConfig } from "../../src/config/types.ts";
import { Gateway } from "../../src/proxy/gateway.ts";
import { adapterNamed } from "../conformance/adapters.ts";

const adapter = await adapterNamed(process.argv[2] ?? "");
const config = JSON.parse(readFileSync(process.argv[3] ?? "", "utf8")) as GatewayConfig;
const gateway = new Gateway({
  adapter,
  logger: pino({ level: "warn" }),
  gatewayGroup: "default",
  listenAddr: "127.0.0.1",
});
const report = await gateway.apply(config);
if (report.failed.length > 0) {
  console.log(`failed ${JSON.stringify(report.failed)}`);
  process.exit(1);
}
console.log(`applied ${adapter.name}`);
process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
