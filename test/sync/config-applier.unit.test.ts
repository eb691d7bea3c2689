/**
 * The config applier on its own: configs reach the target one at a time, the newest offered during a
 * slow apply wins and the ones it superseded never apply, an identical config is not applied twice, a
 * failing apply keeps the previous config and is reported until a newer one applies, and a failing
 * cache write does not undo an apply.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import type { GatewayConfig } from "../../src/config/types.ts";
import { ConfigApplier, type ConfigTarget } from "../../src/sync/config-applier.ts";
import { config } from "../fixtures/gateway.ts";
import { waitFor } from "../fixtures/wait.ts";

const silent = pino({ level: "silent" });

/** a target that records each apply and holds it open until `release()` */
function slowTarget() {
  const started: number[] = [];
  const applied: number[] = [];
  let active = 0;
  let maxActive = 0;
  const waiting: (() => void)[] = [];
  const target: ConfigTarget = {
    async apply(c: GatewayConfig) {
      started.push(c.version);
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => waiting.push(resolve));
      active--;
      applied.push(c.version);
    },
  };
  return {
    target,
    started,
    applied,
    maxActive: () => maxActive,
    release: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

async function settle(release: () => void, done: Promise<unknown>) {
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  while (!finished) {
    release();
    await new Promise((r) => setTimeout(r, 1));
  }
}

test("one apply at a time; the newest offer during a slow apply wins", async () => {
  const t = slowTarget();
  const applier = new ConfigApplier(t.target, silent);
  assert.equal(applier.version, -1);
  const first = applier.offer(config(1, []), "test");
  await waitFor("the first apply to start", () => t.started.length === 1);
  const offers = [2, 3, 4].map((v) => applier.offer(config(v, []), "test"));
  await settle(t.release, Promise.all([first, ...offers]));
  assert.deepEqual(t.applied, [1, 4], "2 and 3 were superseded by 4 while 1 applied");
  assert.equal(t.maxActive(), 1);
  assert.equal(applier.version, 4);
  assert.equal(applier.config?.version, 4);
});

test("an identical config is not applied again; onApplied sees each apply with its source", async () => {
  const applied: number[] = [];
  const saved: string[] = [];
  const applier = new ConfigApplier({ apply: async (c) => applied.push(c.version) }, silent, (c, source) => {
    saved.push(`${c.version} from ${source}`);
  });
  await applier.offer(config(7, []), "cache");
  await applier.offer(config(7, []), "control plane");
  await applier.offer(config(8, []), "control plane");
  assert.deepEqual(applied, [7, 8]);
  assert.deepEqual(saved, ["7 from cache", "8 from control plane"]);
});

test("a failing apply keeps the previous config and is reported until a newer one applies", async () => {
  let broken = 0;
  const applier = new ConfigApplier(
    {
      apply: async (c) => {
        if (c.version === broken) throw new Error("port 80 is outside the group's stream_port_ranges");
      },
    },
    silent,
  );
  await applier.offer(config(1, []), "test");
  broken = 2;
  await applier.offer(config(2, []), "test");
  assert.equal(applier.version, 1, "version 1 keeps serving");
  assert.deepEqual(applier.lastError, { version: 2, message: "port 80 is outside the group's stream_port_ranges" });
  await applier.offer(config(3, []), "test");
  assert.equal(applier.version, 3);
  assert.equal(applier.lastError, null, "a newer good version clears the report");
});

test("a config that could not be read is reported and changes nothing", async () => {
  const applier = new ConfigApplier({ apply: async () => {} }, silent);
  await applier.offer(config(1, []), "test");
  applier.reject(2, "invalid JSON");
  assert.equal(applier.version, 1);
  assert.deepEqual(applier.lastError, { version: 2, message: "invalid JSON" });
});

test("a failing cache write does not undo the apply", async () => {
  const applier = new ConfigApplier({ apply: async () => {} }, silent, () => {
    throw new Error("read-only file system");
  });
  await applier.offer(config(5, []), "control plane");
  assert.equal(applier.version, 5);
  assert.equal(applier.lastError, null);
});
