/** Fills a peer config template from bench/peers/ and writes it into the peer's temp prefix. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PEERS_DIR = join(import.meta.dirname, "..", "peers");

export function renderPeerConfig(template: string, values: Record<string, string | number>, outPath: string): void {
  const text = readFileSync(join(PEERS_DIR, template), "utf8").replace(/\{\{(\w+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`${template}: no value for ${whole}`);
    return String(value);
  });
  writeFileSync(outPath, text);
}
