/**
 * Listeners that stop accepting while the process has no free file descriptor, and listen again once it
 * has some: nginx's "disable accept events for 500 ms" on EMFILE, for runtimes whose accept loop cannot
 * be told to wait. At the fd limit, `accept` fails with EMFILE and leaves the connection queued, so a
 * level-triggered loop that ignores the error wakes at once, fails again and spins a core: Bun's
 * (`Bun.listen` and its `node:net`, usockets' "Todo: start timer here") does, and Deno's `node:net`
 * server stops accepting for good after it. Neither tells the program. Node's libuv drains the queue with
 * a spare fd and Deno's native adapter backs off in its own accept loop (runtime/deno/socket-adapter.ts),
 * so they do not use this.
 *
 * While at least one listener is open, a timer checks every `intervalMs` whether one fd can be opened.
 * When none can, every listener closes its listening socket (established connections stay; new ones are
 * refused, as when the accept queue is full). A paused listener listens again on the same address once
 * `headroom` more fds than the paused listeners need are free, so that listening again does not fill the
 * table at once and pause them again; a listener that cannot listen again yet (no fd, the port taken)
 * stays paused until the next check.
 */
import { closeSync, openSync } from "node:fs";

export interface PausableListener {
  /** stops accepting: closes the listening socket, keeps established connections */
  pause(): void;
  /** listens again on the same address; rejects while it cannot */
  resume(): Promise<void>;
}

export interface FdLimitPauseOptions {
  intervalMs?: number;
  headroom?: number;
  /** called when listeners pause or resume (a log line, a metric) */
  onChange?: (event: { paused: number; resumed: number }) => void;
}

/** whether `count` more fds can be opened now (EMFILE / ENFILE: no) */
export function freeFds(count: number): boolean {
  const opened: number[] = [];
  try {
    for (let i = 0; i < count; i++) opened.push(openSync("/dev/null", "r"));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // anything but the fd table being full (no /dev/null in a chroot, …) must not pause listeners
    return code !== "EMFILE" && code !== "ENFILE";
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}

export class FdLimitPause {
  readonly #open = new Set<PausableListener>();
  readonly #paused = new Set<PausableListener>();
  readonly #intervalMs: number;
  readonly #headroom: number;
  readonly #onChange: FdLimitPauseOptions["onChange"];
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;

  constructor(options: FdLimitPauseOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 200;
    this.#headroom = options.headroom ?? 8;
    this.#onChange = options.onChange;
  }

  /** watches `listener` until the returned function is called (when the listener closes) */
  watch(listener: PausableListener): () => void {
    this.#open.add(listener);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.check(), this.#intervalMs);
      // a process with only listeners left must still be able to exit
      (this.#timer as { unref?: () => void }).unref?.();
    }
    return () => {
      this.#open.delete(listener);
      this.#paused.delete(listener);
      if (this.#open.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** one check (the timer's; tests call it to skip the wait) */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      if (this.#paused.size === 0) {
        if (freeFds(1)) return;
        for (const listener of this.#open) {
          listener.pause();
          this.#paused.add(listener);
        }
        this.#onChange?.({ paused: this.#paused.size, resumed: 0 });
        return;
      }
      if (!freeFds(this.#paused.size + this.#headroom)) return;
      let resumed = 0;
      for (const listener of [...this.#paused]) {
        try {
          await listener.resume();
          this.#paused.delete(listener);
          resumed++;
        } catch {
          // stays paused: tried again at the next check
        }
      }
      if (resumed > 0) this.#onChange?.({ paused: this.#paused.size, resumed });
    } finally {
      this.#checking = false;
    }
  }
}

/** the process's one watch: every listener of the process pauses and resumes together */
export const processFdLimitPause = new FdLimitPause();
