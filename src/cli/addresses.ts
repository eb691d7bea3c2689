/** `HOST:PORT` / `[v6]:PORT` flag values. */
import { UsageError } from "./command.ts";

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535))
    throw new UsageError(`${flag} must be HOST:PORT (port 0-65535), got '${value}'`);
  return { host: (m[1] ?? m[2])!, port };
}
