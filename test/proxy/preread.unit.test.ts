/**
 * The preread runner on its own: hooks run in slot order, a reject or a throw stops the chain, a delay
 * or a promise pauses it, a client that left stops it after the wait, and the log phase runs exactly for
 * the plugins whose preread ran (or that have none).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { PluginInstance, StreamSession } from "../../src/proxy/plugins/types.ts";
import { runLogs, runPrereads } from "../../src/proxy/preread.ts";
import type { PluginSlot } from "../../src/proxy/router.ts";
import { session } from "../plugins/fixtures/session.ts";

function slots(calls: string[], specs: Record<string, Omit<PluginInstance, "log"> | undefined>): PluginSlot[] {
  return Object.entries(specs).map(([name, spec]) => ({
    name,
    instance: {
      ...spec,
      preread: spec?.preread
        ? (s: StreamSession) => {
            calls.push(`preread ${name}`);
            return spec.preread!(s);
          }
        : undefined,
      log: () => calls.push(`log ${name}`),
    },
  }));
}

test("synchronous hooks run in order and the result is not a promise", () => {
  const calls: string[] = [];
  const chain = slots(calls, { a: { preread: () => undefined }, b: undefined, c: { preread: () => undefined } });
  const progress = runPrereads(chain, session(), () => false);
  assert.ok(!(progress instanceof Promise), "no promise when every hook is synchronous");
  assert.deepEqual(progress, { ran: 3 });
  assert.deepEqual(calls, ["preread a", "preread c"]);
  runLogs(chain, session(), progress.ran, () => assert.fail("no log hook fails"));
  assert.deepEqual(calls.slice(2), ["log a", "log b", "log c"]);
});

test("a reject stops the chain; later prereads and their logs do not run, hookless plugins still log", () => {
  const calls: string[] = [];
  const chain = slots(calls, {
    first: { preread: () => undefined },
    gate: { preread: () => ({ reject: 403 }) },
    later: { preread: () => undefined },
    counter: undefined,
  });
  const progress = runPrereads(chain, session(), () => false);
  assert.deepEqual(progress, { ran: 2, reject: 403 });
  runLogs(chain, session(), (progress as { ran: number }).ran, () => {});
  assert.deepEqual(calls, ["preread first", "preread gate", "log first", "log gate", "log counter"]);
});

test("a reject may name its reason (for the access log), synchronously or after a promise", async () => {
  const sync = runPrereads(
    slots([], { gate: { preread: () => ({ reject: 503, reason: "mqtt_malformed" }) } }),
    session(),
    () => false,
  );
  assert.deepEqual(sync, { ran: 1, reject: 503, rejectReason: "mqtt_malformed" });
  const later = await runPrereads(
    slots([], { gate: { preread: async () => ({ reject: 503, reason: "mqtt_timeout" }) } }),
    session(),
    () => false,
  );
  assert.deepEqual(later, { ran: 1, reject: 503, rejectReason: "mqtt_timeout" });
});

test("a throwing hook ends the chain with its error", () => {
  const calls: string[] = [];
  const chain = slots(calls, {
    broken: {
      preread: () => {
        throw new Error("bad plugin");
      },
    },
    later: { preread: () => undefined },
  });
  const progress = runPrereads(chain, session(), () => false);
  assert.ok(!(progress instanceof Promise));
  assert.equal(progress.ran, 1);
  assert.equal(progress.error?.message, "bad plugin");
  assert.deepEqual(calls, ["preread broken"]);
});

test("an async hook and a delay pause the chain, then it goes on", async () => {
  const calls: string[] = [];
  const chain = slots(calls, {
    lookup: { preread: async () => undefined },
    slow: { preread: () => ({ delayMs: 30 }) },
    last: { preread: async () => ({ reject: 503 }) },
  });
  const pending = runPrereads(chain, session(), () => false);
  assert.ok(pending instanceof Promise, "a promise once a hook returns one");
  const progress = await pending;
  assert.deepEqual(progress, { ran: 3, reject: 503 });
  assert.deepEqual(calls, ["preread lookup", "preread slow", "preread last"]);
});

test("a rejected promise is the session's error", async () => {
  const chain = slots([], { remote: { preread: () => Promise.reject(new Error("redis down")) } });
  const progress = await runPrereads(chain, session(), () => false);
  assert.equal(progress.error?.message, "redis down");
});

test("a client that left during a wait stops the chain", async () => {
  const calls: string[] = [];
  let gone = false;
  const chain = slots(calls, {
    slow: {
      preread: () => {
        gone = true;
        return { delayMs: 5 };
      },
    },
    later: { preread: () => undefined },
  });
  const progress = await runPrereads(chain, session(), () => gone);
  assert.deepEqual(progress, { ran: 1 });
  assert.deepEqual(calls, ["preread slow"]);
});

test("a failing log hook is reported and the others still run", () => {
  const logged: string[] = [];
  const failures: string[] = [];
  const chain: PluginSlot[] = [
    {
      name: "bad",
      instance: {
        log: () => {
          throw new Error("disk full");
        },
      },
    },
    { name: "good", instance: { log: () => logged.push("good") } },
  ];
  runLogs(chain, session(), 0, (plugin, error) => failures.push(`${plugin}: ${error.message}`));
  assert.deepEqual(failures, ["bad: disk full"]);
  assert.deepEqual(logged, ["good"]);
});
