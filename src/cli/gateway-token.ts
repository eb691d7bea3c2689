/**
 * Where `sluice gateway` reads its group token: `--token-file PATH` or `SLUICE_GATEWAY_TOKEN`, which keep
 * it out of the process list, or `--token` (shown by `ps` to every local user: still accepted, with a warning).
 */
import { readFileSync } from "node:fs";
import { UsageError } from "./command.ts";

export function gatewayToken(
  values: { token?: string; "token-file"?: string },
  env: Record<string, string | undefined>,
): string {
  if (values["token-file"] !== undefined) {
    let text: string;
    try {
      text = readFileSync(values["token-file"], "utf8");
    } catch (error) {
      throw new UsageError(`--token-file: cannot read ${values["token-file"]}: ${(error as Error).message}`);
    }
    const token = text.trim();
    if (!token) throw new UsageError(`--token-file: ${values["token-file"]} is empty`);
    return token;
  }
  if (values.token !== undefined) {
    process.stderr.write(
      "sluice gateway: --token is visible to every local user in the process list; use --token-file PATH or SLUICE_GATEWAY_TOKEN\n",
    );
    return values.token;
  }
  return env.SLUICE_GATEWAY_TOKEN ?? "";
}
