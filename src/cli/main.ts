/**
 * `sluice` command line: `sluice [COMMAND] [FLAGS]`, `start` when no command is given. Commands are
 * table-driven: adding one is a file under `commands/` and a line in `cliCommands`.
 *
 * Each command's module is imported only when that command runs, so a process loads only what it uses:
 * `sluice gateway` holds no database credentials and loads nothing from src/store/ (scripts/check-layers.ts
 * checks its import graph). Keep the `import()` paths literal: esbuild and `bun build` follow them.
 */
import type { CliCommand, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import type { RuntimeEdge } from "./runtime-edge.ts";
import { SLUICE_VERSION } from "./version.ts";

/** what `sluice --help` lists about a command, and how to load it */
export interface CommandEntry {
  name: string;
  /** one line for `sluice --help` */
  summary: string;
  load(): Promise<CliCommand>;
}

export const cliCommands: readonly CommandEntry[] = [
  {
    name: "start",
    summary: "admin API, control plane and gateway in one process (the default)",
    load: async () => (await import("./commands/start.ts")).startCommand,
  },
  {
    name: "migrate",
    summary: "apply the database migrations and exit",
    load: async () => (await import("./commands/migrate.ts")).migrateCommand,
  },
  {
    name: "control-plane",
    summary: "admin API only, on PostgreSQL (DATABASE_URL); run several as replicas",
    load: async () => (await import("./commands/control-plane.ts")).controlPlaneCommand,
  },
  {
    name: "gateway",
    summary: "a data plane only: config from control planes (--control-plane) or a file (--config)",
    load: async () => (await import("./commands/gateway.ts")).gatewayCommand,
  },
  {
    name: "apply",
    summary: "sync a declarative (ADC-format) file to a control plane and publish it",
    load: async () => (await import("./commands/apply.ts")).applyCommand,
  },
  {
    name: "dump",
    summary: "print the stream services as a declarative (ADC-format) file",
    load: async () => (await import("./commands/dump.ts")).dumpCommand,
  },
];

export function usage(commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "Usage: sluice [COMMAND] [OPTIONS]   (COMMAND defaults to start)",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "  sluice COMMAND --help   options of a command",
    "  sluice --version        version and runtime",
  ].join("\n");
}

export async function runCli(argv: string[], edge: RuntimeEdge): Promise<void> {
  // a worker process of `--workers` (started by its primary with this variable and an IPC channel)
  if (process.env.SLUICE_WORKER_ID !== undefined) {
    const processes = await edge.workers();
    const link = "unsupported" in processes ? undefined : processes.primary();
    if (link) {
      const { runWorkerDataPlane } = await import("./workers/worker-data-plane.ts");
      return runWorkerDataPlane(link, edge);
    }
  }
  const commands = cliCommands;
  const context: CommandContext = { edge, version: SLUICE_VERSION };
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-v" || first === "version") {
    console.log(`sluice ${SLUICE_VERSION} (${edge.runtime} ${edge.runtimeVersion})`);
    edge.exit(0);
  }
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(usage(commands));
    edge.exit(0);
  }
  const named = first !== undefined && !first.startsWith("-");
  const entry = named ? commands.find((c) => c.name === first) : commands[0]!;
  if (!entry) {
    console.error(`sluice: unknown command '${first}'\n\n${usage(commands)}`);
    edge.exit(2);
  }
  const command = await entry.load();
  const args = named ? rest : argv;
  if (args.includes("--help") || args.includes("-h")) {
    console.log(command.help);
    edge.exit(0);
  }
  let code: number | undefined;
  try {
    code = await command.run(args, context);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`sluice ${command.name}: ${error.message}\nRun 'sluice ${command.name} --help' for the options.`);
      edge.exit(2);
    }
    console.error(`sluice ${command.name}: ${(error as Error).message}`);
    edge.exit(1);
  }
  if (code !== undefined) edge.exit(code);
}
