/** `stream_port_ranges` as stored (`"9000-9999"`, `"5353"`) and as compiled (`{from, to}`). */
import type { PortRange } from "./types.ts";

export const ALL_PORTS = ["1-65535"];

export function parsePortRanges(ranges: readonly string[]): PortRange[] {
  return ranges.map((r) => {
    const [from, to = from] = r.split("-").map(Number) as [number, number?];
    return { from, to: to! };
  });
}

export function portAllowed(port: number, ranges: readonly PortRange[]): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}
