/** The pieces of `--workers` that need no process: the flag, the instance's worker count, the IPC calls. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../src/cli/command.ts";
import { parseWorkers } from "../../src/cli/data-plane-settings.ts";
import { IpcPeer } from "../../src/cli/workers/ipc-peer.ts";
import { runtimeWithWorkers, workersOf } from "../../src/sync/protocol.ts";

test("--workers takes a count from 1 or auto (one per core), and refuses the rest naming the flag", () => {
  assert.equal(parseWorkers(undefined, 8), 1);
  assert.equal(parseWorkers("", 8), 1);
  assert.equal(parseWorkers("3", 8), 3);
  assert.equal(parseWorkers("auto", 8), 8);
  for (const bad of ["0", "-1", "1.5", "two", "2000"]) {
    assert.throws(
      () => parseWorkers(bad, 8),
      (e: Error) => e instanceof UsageError && /--workers/.test(e.message),
    );
  }
});

test("an instance's worker count travels in its runtime text and reads back", () => {
  assert.equal(runtimeWithWorkers("node 20.20.2", 1), "node 20.20.2");
  assert.equal(runtimeWithWorkers("node 20.20.2", 4), "node 20.20.2 (4 workers)");
  assert.equal(workersOf("node 20.20.2 (4 workers)"), 4);
  assert.equal(workersOf("bun 1.3.0"), 1);
  assert.equal(workersOf(""), 1);
});

/** two peers wired back to back, with messages through JSON as over a real channel */
function pair(): [IpcPeer, IpcPeer] {
  const a: IpcPeer = new IpcPeer((m) => queueMicrotask(() => b.receive(JSON.parse(JSON.stringify(m)))));
  const b: IpcPeer = new IpcPeer((m) => queueMicrotask(() => a.receive(JSON.parse(JSON.stringify(m)))));
  return [a, b];
}

test("IPC calls get their own answers, errors come back as rejections, notes need no answer", async () => {
  const [primary, worker] = pair();
  let count = 0;
  primary.handle("acquire", async (key) => `${key}:${++count}`);
  primary.handle("broken", () => {
    throw new Error("no such key");
  });
  const released: unknown[] = [];
  primary.handle("release", (key) => released.push(key));
  const answers = await Promise.all([worker.call("acquire", "k"), worker.call("acquire", "k")]);
  assert.deepEqual(answers.sort(), ["k:1", "k:2"]);
  await assert.rejects(worker.call("broken"), /no such key/);
  await assert.rejects(worker.call("unknown"), /no handler for 'unknown'/);
  worker.notify("release", "k");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(released, ["k"]);
});

test("a call still waiting when the other side goes away fails", async () => {
  const [primary, worker] = pair();
  primary.handle("metrics", () => new Promise(() => {}));
  const waiting = worker.call("metrics");
  worker.close("worker 1 exited");
  await assert.rejects(waiting, /worker 1 exited/);
});
