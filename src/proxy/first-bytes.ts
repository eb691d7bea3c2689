/**
 * The answer shape shared by the readers of a connection's first bytes (the PROXY protocol header, the
 * MQTT CONNECT packet): fed chunk by chunk, each says it needs more, is done (and how many bytes were its
 * own), or refuses the connection with a reason fit for a log line.
 */

export type FirstBytesResult<Done extends object> =
  | { kind: "need-more" }
  /** `consumed`: how many of the connection's bytes, from its first, the reader took */
  | ({ kind: "done"; consumed: number } & Done)
  | { kind: "error"; reason: string };

export const NEED_MORE: { kind: "need-more" } = { kind: "need-more" };

export function refuse(reason: string): { kind: "error"; reason: string } {
  return { kind: "error", reason };
}

/** For a reader given every byte there is (a datagram, a gathered buffer): needing more means truncated. */
export function complete<R extends { kind: string }>(
  result: R,
  length: number,
  what: string,
): R | { kind: "error"; reason: string } {
  return result.kind === "need-more" ? refuse(`truncated ${what}: ${length} bytes`) : result;
}

/** a byte as two hex digits, for reasons */
export function hexByte(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
