/** `HOST:PORT` / `[v6]:PORT` flag values. */
import { parseHostPort as splitHostPort } from "../net/addresses.ts";
import { UsageError } from "./command.ts";

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const parsed = splitHostPort(value);
  if (!parsed || parsed.port > 65535) throw new UsageError(`${flag} must be HOST:PORT (port 0-65535), got '${value}'`);
  return parsed;
}
