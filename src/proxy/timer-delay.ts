/**
 * Every runtime's timers keep their delay in a signed 32-bit integer: a delay past 2^31−1 ms (24.8 days)
 * overflows and fires at once, so a generous `timeout.connect: 2200000` would cut connections
 * immediately. Configured durations are bounded by the schema; this clamp is the second line of defence
 * for every timer the data plane arms from one.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** `ms` as a timer may take it: at most 2^31−1, never negative or NaN */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}
