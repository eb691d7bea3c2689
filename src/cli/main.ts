/**
 * `sluice` command line: `sluice [COMMAND] [FLAGS]`, `start` when no command is given. Commands are
 * table-driven: adding one is a file under `commands/` and a line in `commands`.
 */
import type { CliCommand, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { applyCommand } from "./commands/apply.ts";
import { controlPlaneCommand } from "./commands/control-plane.ts";
import { dumpCommand } from "./commands/dump.ts";
import { gatewayCommand } from "./commands/gateway.ts";
import { migrateCommand } from "./commands/migrate.ts";
import { startCommand } from "./commands/start.ts";
import type { RuntimeEdge } from "./runtime-edge.ts";
import { SLUICE_VERSION } from "./version.ts";

export const cliCommands: readonly CliCommand[] = [
  startCommand,
  migrateCommand,
  controlPlaneCommand,
  gatewayCommand,
  applyCommand,
  dumpCommand,
];

export function usage(commands: readonly CliCommand[]): string {
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
  const command = named ? commands.find((c) => c.name === first) : commands[0]!;
  if (!command) {
    console.error(`sluice: unknown command '${first}'\n\n${usage(commands)}`);
    edge.exit(2);
  }
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
