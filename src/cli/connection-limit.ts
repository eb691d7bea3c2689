/**
 * The process's connection budget (`--max-connections`, nginx `worker_connections`, HAProxy `maxconn`):
 * by default derived from the open-file limit, so that a flood of connections or UDP sessions fills the
 * budget, not the fd table, and the admin API, probes, logs and the config stream keep working.
 *
 * The budget counts TCP connections and UDP sessions, one each. A proxied TCP connection holds two
 * descriptors (client and upstream), a UDP session one (its upstream socket), so the default is half of
 * what the fd limit leaves after the headroom: the worst case (all TCP) still fits.
 */
import { readFileSync } from "node:fs";

/** descriptors kept for everything that is not a proxied session: at least this many ... */
const HEADROOM_MIN = 128;
/** ... or this share of the limit, whichever is larger */
const HEADROOM_SHARE = 0.1;
/** the budget when the fd limit cannot be read (no `/proc`: macOS, Windows) */
export const FALLBACK_MAX_CONNECTIONS = 4096;

/**
 * The soft `RLIMIT_NOFILE` of this process from `/proc/self/limits` (Linux; Node and Bun raise the soft
 * limit to the hard one at start, and `/proc` shows the raised value). Undefined where it cannot be read
 * or is unlimited.
 */
export function openFileLimit(limitsText: string | undefined = readProcLimits()): number | undefined {
  const line = limitsText?.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  const n = Number(soft);
  return soft !== undefined && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function readProcLimits(): string | undefined {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
}

/** The default budget for an fd limit: (limit − headroom) / 2, at least 1; the fallback when unknown. */
export function defaultMaxConnections(fdLimit: number | undefined): number {
  if (fdLimit === undefined) return FALLBACK_MAX_CONNECTIONS;
  const headroom = Math.max(HEADROOM_MIN, Math.ceil(fdLimit * HEADROOM_SHARE));
  return Math.max(1, Math.floor((fdLimit - headroom) / 2));
}
