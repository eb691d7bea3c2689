/**
 * The esbuild options of the Node build (dist/node), shared by scripts/build-node.mjs and the test that
 * reads the build's module graph for what each `sluice gateway` mode loads at start, so both see one graph.
 * Code splitting keeps src/cli/main.ts's per-command `import()` lazy; npm packages stay external.
 */
import { join } from "node:path";

/** @param {string} root the repository's root @param {string} outdir */
export function nodeBuildOptions(root, outdir) {
  return /** @type {const} */ ({
    entryPoints: { main: join(root, "runtime/node/main.ts") },
    outdir,
    chunkNames: "[name]-[hash]",
    splitting: true,
    absWorkingDir: root,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "node20",
    metafile: true,
  });
}
