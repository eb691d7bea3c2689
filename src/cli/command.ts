/** What a `sluice` sub-command is: one file per command under `commands/`, listed (with its one-line summary) in `main.ts`. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import type { RuntimeEdge } from "./runtime-edge.ts";

export interface CommandContext {
  edge: RuntimeEdge;
  version: string;
}

export interface CliCommand {
  name: string;
  /** the full `sluice NAME --help` text */
  help: string;
  /** an exit code when done, or `undefined` for a server that keeps running (it exits on a signal) */
  run(argv: string[], context: CommandContext): Promise<number | undefined>;
}

/** a flag or argument the user got wrong: printed with the command's help hint, exit code 2 */
export class UsageError extends Error {
  override name = "UsageError";
}

type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

/** Parses a command's flags (no positionals, unknown flags refused); a mistake is a `UsageError`. */
export function parseFlags<const O extends FlagOptions>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
