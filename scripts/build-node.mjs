#!/usr/bin/env node
/**
 * Compiles the Node entry point (runtime/node/main.ts and everything it imports from src/) into one plain
 * JavaScript file, dist/node/main.js, which `npm start` runs: no TypeScript loader in the running process
 * (tsx's loader thread and esbuild service cost memory and start time). npm packages stay external and
 * are loaded from node_modules as usual: PGlite finds its wasm next to its own module.
 *
 * Code splitting keeps src/cli/main.ts's per-command `import()` lazy: each command's modules land in chunk
 * files beside main.js and load only when that command runs (`sluice gateway` never loads the store nor
 * PGlite). The chunks sit in dist/node itself, at the same depth as src/<dir>/, so relative file lookups
 * such as the migrations' `new URL("../../drizzle/", import.meta.url)` resolve to the same place from the
 * bundle as from source.
 *
 * Usage: node scripts/build-node.mjs [--if-stale]   (--if-stale: skip when no input changed since the last build)
 */
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { nodeBuildOptions } from "./node-build-options.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist/node");
const outfile = join(outdir, "main.js");
const metafile = join(outdir, "meta.json");

/** true when the last build's output exists and none of its inputs (nor this script) is newer */
function upToDate() {
  try {
    const built = statSync(outfile).mtimeMs;
    const meta = JSON.parse(readFileSync(metafile, "utf8"));
    const options = fileURLToPath(new URL("./node-build-options.mjs", import.meta.url));
    const inputs = [...Object.keys(meta.inputs).map((p) => join(root, p)), fileURLToPath(import.meta.url), options];
    return inputs.every((path) => statSync(path).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (process.argv.includes("--if-stale") && upToDate()) process.exit(0);

const started = Date.now();
// chunk names carry a content hash: clear the last build's so none is left behind
rmSync(outdir, { recursive: true, force: true });
const result = await build({ ...nodeBuildOptions(root, outdir), sourcemap: "linked", logLevel: "warning" });
writeFileSync(metafile, JSON.stringify(result.metafile));
const files = Object.keys(result.metafile.inputs).length;
const chunks = Object.keys(result.metafile.outputs).filter((path) => path.endsWith(".js")).length - 1;
process.stderr.write(
  `built ${relative(process.cwd(), outfile)} (+${chunks} chunks) from ${files} files in ${Date.now() - started} ms\n`,
);
