/**
 * `npm run check:layers`: fails when an import breaks the layer rules below or closes a cycle between
 * the folders of src/. The rules are DESIGN §5's, made precise: each folder lists the folders it may
 * import; anything not listed is refused, and a folder missing from the table is an error (add its row).
 *
 * Reads every .ts file under src/ and runtime/ with TypeScript's own import scanner (imports, re-exports,
 * dynamic `import()`), so comments and strings do not count.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");

/** folder → the folders its files may import (besides itself) */
const mayImport: Record<string, readonly string[]> = {
  // address text and CIDR rules every layer shares; a leaf
  "src/net": [],
  // the compiled-config contract and the input rules (schemas, clash key, issue wording)
  "src/config": ["src/net"],
  // APISIX and ADC names and rules (metric names, file coercions): pure tables and translations
  "src/compat": ["src/config", "src/net"],
  // logger and metrics registry; knows nothing of the pipeline
  "src/observability": ["src/compat", "src/net"],
  // the runtime-neutral data plane
  "src/proxy": ["src/config", "src/net", "src/observability"],
  // control plane ↔ gateway delivery and heartbeats; knows no storage and no admin API
  "src/sync": ["src/config", "src/net", "src/observability", "src/proxy"],
  // the database; records what the sync protocol reports, knows nothing of HTTP
  "src/store": ["src/config", "src/net", "src/sync"],
  // the declarative file (validated with the plugins' own schemas) and the admin-API client
  "src/declarative": ["src/compat", "src/config", "src/net", "src/proxy"],
  // the dashboard's server side (page, sign-in sessions, traffic history); its browser code talks to /api only
  "src/dashboard": ["src/observability", "src/proxy"],
  // the HTTP face of the control plane: maps store errors to statuses
  "src/admin": [
    "src/compat",
    "src/config",
    "src/dashboard",
    "src/net",
    "src/observability",
    "src/proxy",
    "src/store",
    "src/sync",
  ],
  // composes everything
  "src/cli": [
    "src/admin",
    "src/compat",
    "src/config",
    "src/dashboard",
    "src/declarative",
    "src/net",
    "src/observability",
    "src/proxy",
    "src/store",
    "src/sync",
  ],
  // runtimes implement the adapter and start the CLI; src/ never imports them
  "runtime/node": ["src/cli", "src/net", "src/observability", "src/proxy"],
  "runtime/bun": ["src/cli", "src/net", "src/observability", "src/proxy", "runtime/node"],
  "runtime/deno": ["src/cli", "src/net", "src/observability", "src/proxy", "runtime/node"],
};

/**
 * modules src/ must not import: a runtime's socket or server API lives behind src/proxy/adapter.ts, its
 * process API (the workers of `--workers`) behind `WorkerProcesses` in src/cli/runtime-edge.ts
 */
const socketModules = /^(node:)?(net|dgram|tls|cluster|child_process)$|^@hono\/node-server(\/|$)/;
/** `Bun.listen`, `Deno.connect`, …: the runtime globals, used in code (not comments or strings) */
const runtimeGlobal = /^(Bun|Deno)$/;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** `src/proxy/health/x.ts` → `src/proxy`; `runtime/bun/main.ts` → `runtime/bun` */
function folderOf(file: string): string {
  return file.split("/").slice(0, 2).join("/");
}

const problems: string[] = [];
const edges = new Map<string, Map<string, string>>(); // from folder → to folder → an example file

for (const file of [...files("src"), ...files("runtime")]) {
  const from = folderOf(file);
  if (from.split("/").length < 2 || file.split("/").length < 3) {
    problems.push(
      `${file}: files belong in a folder of ${from.split("/")[0]}/ (see the table in scripts/check-layers.ts)`,
    );
    continue;
  }
  const allowed = mayImport[from];
  if (!allowed) {
    problems.push(`${from}/ has no row in scripts/check-layers.ts: say what it may import`);
    continue;
  }
  const text = readFileSync(join(root, file), "utf8");
  const info = ts.preProcessFile(text, true, true);
  for (const ref of info.importedFiles) {
    const spec = ref.fileName;
    if (from.startsWith("src/") && socketModules.test(spec)) {
      problems.push(
        `${file}: imports ${spec}; src/ reaches sockets and servers only through src/proxy/adapter.ts, worker processes only through src/cli/runtime-edge.ts`,
      );
      continue;
    }
    if (!spec.startsWith(".")) continue;
    const target = relative(root, resolve(root, dirname(file), spec));
    if (!target.startsWith("src/") && !target.startsWith("runtime/")) continue;
    const to = folderOf(target);
    if (to === from) continue;
    let out = edges.get(from);
    if (!out) {
      out = new Map();
      edges.set(from, out);
    }
    if (!out.has(to)) out.set(to, file);
    if (!allowed.includes(to)) problems.push(`${file}: ${from} may not import ${to} (imports ${spec})`);
  }
  if (from.startsWith("src/")) {
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
        if (runtimeGlobal.test(node.expression.text)) {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
          problems.push(`${file}:${line + 1}: uses ${node.expression.text}.${node.name.text}; only runtime/ may`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
}

// cycles between folders (Tarjan's strongly connected components)
const index = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
let counter = 0;
function connect(v: string): void {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v)?.keys() ?? []) {
    if (!index.has(w)) {
      connect(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
  }
  if (low.get(v) === index.get(v)) {
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) {
      const members = new Set(component);
      const links = component.flatMap((a) =>
        [...(edges.get(a) ?? [])].filter(([b]) => members.has(b)).map(([b, example]) => `${a} → ${b} (${example})`),
      );
      problems.push(`import cycle between folders: ${links.join(", ")}`);
    }
  }
}
for (const v of edges.keys()) if (!index.has(v)) connect(v);

// `sluice gateway` holds no database credentials: nothing it loads may come from src/store/. What it loads
// is the runtime entry points' static imports (src/cli/main.ts loads each command with `import()` when it
// runs) plus everything the gateway command imports, statically or not, type-only imports included.

/** the src/ and runtime/ files `file` imports; `staticOnly` leaves out `import()` calls */
function importsOf(file: string, staticOnly: boolean): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), "utf8"), ts.ScriptTarget.Latest, false);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) specs.push(node.moduleSpecifier.text);
    } else if (
      !staticOnly &&
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specs.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specs
    .filter((spec) => spec.startsWith("."))
    .map((spec) => relative(root, resolve(root, dirname(file), spec)))
    .filter((target) => target.startsWith("src/") || target.startsWith("runtime/"));
}

/** every file reachable from `starts`, each mapped to the file that first imported it */
function importGraph(starts: readonly string[], staticOnly: boolean): Map<string, string> {
  const seen = new Map<string, string>(starts.map((start) => [start, start]));
  const queue = [...starts];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const target of importsOf(file, staticOnly)) {
      if (seen.has(target)) continue;
      seen.set(target, file);
      queue.push(target);
    }
  }
  return seen;
}

const gatewayLoads = new Map([
  ...importGraph(["runtime/node/main.ts", "runtime/bun/main.ts", "runtime/deno/main.ts"], true),
  ...importGraph(["src/cli/commands/gateway.ts"], false),
]);
for (const [file, importer] of gatewayLoads) {
  if (file.startsWith("src/store/")) {
    problems.push(`${importer} imports ${file}: \`sluice gateway\` loads it, and the gateway holds no database`);
  }
}

if (problems.length > 0) {
  console.error(`check:layers: ${problems.length} problem(s)\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(
  `check:layers: ${edges.size} folders, imports follow the layer table, no cycles; \`sluice gateway\` loads ${gatewayLoads.size} files, none from src/store/`,
);
