/**
 * What each `sluice gateway` mode loads at start, read from the Node build's module graph (the one
 * scripts/build-node.mjs makes): a module a process loads it keeps for its whole life, so these decide
 * the gateway's idle footprint (docs/performance.md). A gateway fed by its control plane loads neither the
 * file's parser nor the admin API's packages nor the heartbeat schemas, and the plugin checks (zod with them)
 * only with its first config; a standalone one does not load the sync client.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build, type Metafile } from "esbuild";
import { nodeBuildOptions } from "../../scripts/node-build-options.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

async function nodeBuildGraph(): Promise<Metafile> {
  const result = await build({
    ...nodeBuildOptions(root, join(root, "dist/graph-test")),
    write: false,
    logLevel: "silent",
  });
  return result.metafile;
}

/** the source files and packages a process loads when it imports `entries` (static imports only) */
function loadedBy(meta: Metafile, entries: readonly string[]): { sources: Set<string>; packages: Set<string> } {
  const outputs = meta.outputs;
  const start = entries.map((entry) => {
    const found = Object.keys(outputs).find((path) => outputs[path]!.entryPoint === entry);
    assert.ok(found, `no chunk for ${entry}`);
    return found;
  });
  const seen = new Set<string>();
  const pending = [...start];
  while (pending.length > 0) {
    const chunk = pending.pop()!;
    if (seen.has(chunk)) continue;
    seen.add(chunk);
    for (const i of outputs[chunk]!.imports) if (i.kind === "import-statement" && !i.external) pending.push(i.path);
  }
  const sources = new Set<string>();
  const packages = new Set<string>();
  for (const chunk of seen) {
    for (const path of Object.keys(outputs[chunk]!.inputs)) sources.add(path);
    for (const i of outputs[chunk]!.imports) if (i.external && i.kind === "import-statement") packages.add(i.path);
  }
  return { sources, packages };
}

test("sluice gateway loads only what its mode needs at start", async () => {
  const meta = await nodeBuildGraph();
  const gateway = ["runtime/node/main.ts", "src/cli/commands/gateway.ts"];

  const fed = loadedBy(meta, [...gateway, "src/sync/gateway-sync.ts"]);
  for (const unwanted of ["zod", "yaml", "hono", "@electric-sql/pglite"]) {
    assert.ok(!fed.packages.has(unwanted), `--control-plane loads ${unwanted}`);
  }
  for (const unwanted of ["src/config/schema.ts", "src/config/plugin-config.ts", "src/sync/heartbeat-schema.ts"]) {
    assert.ok(!fed.sources.has(unwanted), `--control-plane loads ${unwanted}`);
  }
  assert.ok(fed.sources.has("src/proxy/plugins/limit-conn.ts"), "the plugins themselves are loaded");

  const standalone = loadedBy(meta, [...gateway, "src/declarative/file-watcher.ts"]);
  assert.ok(standalone.packages.has("zod"), "--config checks the file");
  assert.ok(!standalone.sources.has("src/sync/gateway-sync.ts"), "--config loads the sync client");
  assert.ok(!standalone.packages.has("@electric-sql/pglite"), "--config loads the store");
});
