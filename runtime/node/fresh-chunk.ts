/**
 * The chunk most recently handed to an `onData` handler by an adapter whose reads give a fresh buffer
 * each time that is never reused (Node's sockets and handles, Bun's `Bun.listen` sockets). The pipeline's
 * hot path writes that chunk straight to the other side, so a Node write can keep a reference to it
 * without a copy. Any other chunk belongs to a caller that may reuse it once `write` returns, and Node
 * keeps a reference to bytes it could not send at once, so those are copied first.
 *
 * bun-native reads with `Bun.listen` and writes upstream through `node:net`: iperf3 through a minimal
 * proxy took 0.66–0.71 ns of CPU a byte with the copy, 0.46–0.52 without, the bare
 * `Bun.listen`/`Bun.connect` floor 0.45–0.53 (docs/performance.md).
 */
let lastDelivered: Uint8Array | undefined;

export function markFreshChunk(chunk: Uint8Array): void {
  lastDelivered = chunk;
}

export function isFreshChunk(chunk: Uint8Array): boolean {
  return chunk === lastDelivered;
}
