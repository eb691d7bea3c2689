/** An active probe: one check of one target, resolved with its outcome (never rejected). */
import type { ProbeOutcome } from "./node-state.ts";

export interface ActiveProbe {
  probe(host: string, port: number): Promise<ProbeOutcome>;
}
