/**
 * Runs the `preread` hooks of a route's plugins in priority order. Synchronous while the hooks are: a
 * promise (or a timer, for `delayMs`) appears only when a hook returns a promise or asks for a delay.
 */
import type { PrereadVerdict, StreamSession } from "./plugins/types.ts";
import type { PluginSlot } from "./router.ts";
import { timerDelay } from "./timer-delay.ts";

export interface PrereadProgress {
  /** hooks at index < ran had their preread called (the log phase runs for them) */
  ran: number;
  /** set when a hook rejected: the code to record */
  reject?: number;
  /** the rejecting hook's reason for the access log, when it gave one */
  rejectReason?: string;
  /** a hook threw: the session closes with code 500 */
  error?: Error;
}

function isThenable(v: unknown): v is PromiseLike<PrereadVerdict> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** `cancelled` is checked after every wait: a client that left stops the chain. */
export function runPrereads(
  slots: readonly PluginSlot[],
  session: StreamSession,
  cancelled: () => boolean,
): PrereadProgress | Promise<PrereadProgress> {
  return continueFrom(slots, session, 0, { ran: 0 }, cancelled);
}

function continueFrom(
  slots: readonly PluginSlot[],
  session: StreamSession,
  start: number,
  progress: PrereadProgress,
  cancelled: () => boolean,
): PrereadProgress | Promise<PrereadProgress> {
  for (let i = start; i < slots.length; i++) {
    const instance = slots[i]!.instance;
    if (!instance.preread) continue;
    progress.ran = i + 1;
    let verdict: PrereadVerdict | PromiseLike<PrereadVerdict>;
    try {
      verdict = instance.preread(session);
    } catch (error) {
      progress.error = error as Error;
      return progress;
    }
    if (isThenable(verdict)) {
      return Promise.resolve(verdict).then(
        (v) => (cancelled() ? progress : afterVerdict(slots, session, i, v, progress, cancelled)),
        (error: unknown) => {
          progress.error = error instanceof Error ? error : new Error(String(error));
          return progress;
        },
      );
    }
    if (verdict !== undefined) {
      if ("reject" in verdict) return rejected(progress, verdict);
      if (verdict.delayMs > 0) return delayThenContinue(slots, session, i, verdict.delayMs, progress, cancelled);
    }
  }
  return progress;
}

function afterVerdict(
  slots: readonly PluginSlot[],
  session: StreamSession,
  i: number,
  verdict: PrereadVerdict,
  progress: PrereadProgress,
  cancelled: () => boolean,
): PrereadProgress | Promise<PrereadProgress> {
  if (verdict !== undefined) {
    if ("reject" in verdict) return rejected(progress, verdict);
    if (verdict.delayMs > 0) return delayThenContinue(slots, session, i, verdict.delayMs, progress, cancelled);
  }
  return continueFrom(slots, session, i + 1, progress, cancelled);
}

function rejected(progress: PrereadProgress, verdict: { reject: number; reason?: string }): PrereadProgress {
  progress.reject = verdict.reject;
  if (verdict.reason !== undefined) progress.rejectReason = verdict.reason;
  return progress;
}

function delayThenContinue(
  slots: readonly PluginSlot[],
  session: StreamSession,
  i: number,
  ms: number,
  progress: PrereadProgress,
  cancelled: () => boolean,
): Promise<PrereadProgress> {
  return new Promise((resolve) => setTimeout(resolve, timerDelay(ms))).then(() =>
    cancelled() ? progress : continueFrom(slots, session, i + 1, progress, cancelled),
  );
}

/** Calls `log` of every plugin whose preread ran or that has none, exactly once, isolating failures. */
export function runLogs(
  slots: readonly PluginSlot[],
  session: StreamSession,
  ran: number,
  onError: (plugin: string, error: Error) => void,
): void {
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    const instance = slot.instance;
    if (!instance.log || (instance.preread && i >= ran)) continue;
    try {
      instance.log(session);
    } catch (error) {
      onError(slot.name, error as Error);
    }
  }
}
