/** What a `sluice` sub-command is: one file per command under `commands/`, listed in `main.ts`. */
import type { RuntimeEdge } from "./runtime-edge.ts";

export interface CommandContext {
  edge: RuntimeEdge;
  version: string;
}

export interface CliCommand {
  name: string;
  /** one line for `sluice --help` */
  summary: string;
  /** the full `sluice NAME --help` text */
  help: string;
  /** an exit code when done, or `undefined` for a server that keeps running (it exits on a signal) */
  run(argv: string[], context: CommandContext): Promise<number | undefined>;
}

/** a flag or argument the user got wrong: printed with the command's help hint, exit code 2 */
export class UsageError extends Error {
  override name = "UsageError";
}
