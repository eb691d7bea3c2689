/** `LatestWinsQueue`, checked directly: one task at a time, stale offers skipped, outcomes delivered. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LatestWinsQueue } from "../../src/proxy/latest-wins-queue.ts";

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

test("runs one at a time; offers made meanwhile collapse to the newest, whose outcome every caller gets", async () => {
  const ran: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const first = gate();
  const queue = new LatestWinsQueue(async (n: number) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (n === 1) await first.opened;
    ran.push(n);
    inFlight--;
    return n * 10;
  });
  const p1 = queue.offer(1);
  await new Promise((r) => setImmediate(r));
  assert.equal(queue.busy, true);
  const p2 = queue.offer(2);
  const p3 = queue.offer(3);
  const p4 = queue.offer(4);
  first.open();
  assert.deepEqual(await Promise.all([p1, p2, p3, p4]), [10, 40, 40, 40]);
  assert.deepEqual(ran, [1, 4], "2 and 3 were stale before they could run");
  assert.equal(maxInFlight, 1);
  await queue.idle();
  assert.equal(queue.busy, false);
});

test("a failing task rejects its callers and the queue goes on with the next offer", async () => {
  const queue = new LatestWinsQueue(async (n: number) => {
    if (n < 0) throw new Error(`bad ${n}`);
    return n;
  });
  const failed = queue.offer(-1);
  await assert.rejects(failed, /bad -1/);
  assert.equal(await queue.offer(5), 5);
});

test("a task that throws synchronously is an outcome too, and idle() resolves when nothing waits", async () => {
  let calls = 0;
  const queue = new LatestWinsQueue((n: number): Promise<number> => {
    calls++;
    if (n === 0) throw new Error("sync throw");
    return Promise.resolve(n);
  });
  await assert.rejects(queue.offer(0), /sync throw/);
  await queue.idle();
  assert.equal(queue.busy, false);
  assert.equal(await queue.offer(2), 2);
  assert.equal(calls, 2);
});
