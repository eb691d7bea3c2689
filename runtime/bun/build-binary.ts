/**
 * Builds the single binary `dist/sluice` from runtime/bun/main.ts with `Bun.build({ compile })`
 * (run through scripts/build-binary.sh / `npm run build:binary`).
 *
 * Code that finds its files through `new URL("./x", import.meta.url)` (PGlite's wasm and data, the store's
 * `drizzle/` migrations, package.json) would look in the wrong place inside a binary, where every module
 * shares the binary's own URL. So this build:
 * - embeds those files (and the fresh data dir template, dist/pgdata-template.tar.gz) with their
 *   project-relative paths (`/$bunfs/root/<path>` in the binary), and
 * - gives each module an `import.meta.url` of its own project-relative path inside the binary.
 * Relative lookups then resolve exactly as they do on disk, with no change to the code that makes them.
 */
/// <reference path="./bun-api.d.ts" />
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const entry = join(root, "runtime/bun/main.ts");
const outfile = process.argv[2] ?? join(root, "dist/sluice");

/** files the binary carries, project-relative */
function embeddedFiles(): string[] {
  const pglite = "node_modules/@electric-sql/pglite/dist";
  const files = readdirSync(join(root, pglite))
    .filter((name) => name.endsWith(".wasm") || name.endsWith(".data"))
    .map((name) => `${pglite}/${name}`);
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir)).flatMap((name) => {
      const path = `${dir}/${name}`;
      return statSync(join(root, path)).isDirectory() ? walk(path) : [path];
    });
  // made by scripts/build-pgdata-template.mjs (build-binary.sh runs it first); without it the binary runs initdb
  const template = existsSync(join(root, "dist/pgdata-template.tar.gz")) ? ["dist/pgdata-template.tar.gz"] : [];
  return [...files, ...walk("drizzle"), ...template];
}

const embedImports = embeddedFiles()
  .map((path) => `import ${JSON.stringify(`../../${path}`)} with { type: "file" };`)
  .join("\n");

interface BuildPluginBuilder {
  onLoad(
    options: { filter: RegExp },
    callback: (args: { path: string }) => { contents: string; loader: "ts" | "js" } | undefined,
  ): void;
}

interface BunBuild {
  build(options: {
    entrypoints: string[];
    root: string;
    compile: { outfile: string };
    minify?: boolean;
    naming: { asset: string };
    plugins: { name: string; setup(build: BuildPluginBuilder): void }[];
  }): Promise<{ success: boolean; logs: unknown[] }>;
}

const started = Date.now();
const result = await (Bun as unknown as BunBuild).build({
  entrypoints: [entry],
  root,
  compile: { outfile },
  minify: true,
  naming: { asset: "[dir]/[name].[ext]" },
  plugins: [
    {
      name: "sluice-module-urls",
      setup(build) {
        build.onLoad({ filter: /\.(m?js|ts)$/ }, (args) => {
          const isEntry = args.path === entry;
          const text = readFileSync(args.path, "utf8");
          if (!isEntry && !text.includes("import.meta.url")) return undefined;
          const url = `file:///$bunfs/root/${relative(root, args.path)}`;
          const contents = text.replaceAll("import.meta.url", JSON.stringify(url));
          return {
            contents: isEntry ? `${embedImports}\n${contents}` : contents,
            loader: args.path.endsWith(".ts") ? "ts" : "js",
          };
        });
      },
    },
  ],
});
if (!result.success) {
  for (const log of result.logs) console.error(String(log));
  process.exit(1);
}
const size = statSync(outfile).size;
console.log(
  `built ${relative(process.cwd(), outfile)}: ${(size / 1024 / 1024).toFixed(1)} MiB in ${Date.now() - started} ms`,
);
