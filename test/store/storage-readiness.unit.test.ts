/** The storage probe behind `/readyz`: one query at a time, answers reused for the cache time, bounded. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { StorageReadiness } from "../../src/store/storage-readiness.ts";
import { sleep } from "../fixtures/wait.ts";

test("probes arriving together or within the cache time share one select 1", async () => {
  let pings = 0;
  const readiness = new StorageReadiness({ ping: async () => void pings++ }, { cacheMs: 60_000 });
  const answers = await Promise.all(Array.from({ length: 50 }, () => readiness.problem()));
  assert.deepEqual(new Set(answers), new Set([undefined]));
  await readiness.problem();
  assert.equal(pings, 1);
});

test("a database that never answers is reported after the timeout, and asked again once the answer is stale", async () => {
  let pings = 0;
  const readiness = new StorageReadiness(
    { ping: () => (pings++ === 0 ? new Promise<void>(() => {}) : Promise.resolve()) },
    { timeoutMs: 50, cacheMs: 100 },
  );
  assert.equal(await readiness.problem(), "storage did not answer within 50 ms");
  assert.equal(await readiness.problem(), "storage did not answer within 50 ms", "cached");
  await sleep(150);
  assert.equal(await readiness.problem(), undefined);
  assert.equal(pings, 2);
});

test("a refused connection is reported with its code and message", async () => {
  const refused = Object.assign(new Error('database "x" is not currently accepting connections'), { code: "55000" });
  const readiness = new StorageReadiness({ ping: () => Promise.reject(refused) });
  assert.equal(
    await readiness.problem(),
    'storage unreachable: 55000 database "x" is not currently accepting connections',
  );
});
