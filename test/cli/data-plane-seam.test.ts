/**
 * `attachDataPlane`: the in-process gateway gets the current config at attach and then every newer
 * version, one apply at a time, never an older one after a newer, the latest winning when several
 * arrive during a slow apply; readiness follows the newest version.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { attachDataPlane, type DataPlane } from "../../src/cli/data-plane.ts";
import { upstream } from "../../src/config/schema.ts";
import type { GatewayConfig } from "../../src/config/types.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type ControlPlaneStore, openStore } from "../../src/store/index.ts";
import { type Backend, pgliteBackend } from "../admin/fixtures/backends.ts";

let backend: Backend;
let store: ControlPlaneStore;

before(async () => {
  backend = await pgliteBackend();
  store = await openStore(backend.options);
});
after(async () => {
  await store.close();
  await backend.dispose();
});

/** records what it was asked to apply; each apply takes a while, so versions pile up meanwhile */
class RecordingDataPlane implements DataPlane {
  readonly applied: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  failVersion: number | undefined;
  async apply(config: GatewayConfig): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 40));
    this.inFlight--;
    if (config.version === this.failVersion) throw new Error("refused");
    this.applied.push(config.version);
  }
  status() {
    return { applied: this.applied.at(-1) };
  }
  async metricsText() {
    return "";
  }
  async stop() {}
}

it("applies the current config, then newer versions in order, one at a time, latest wins", async () => {
  const svc = await store.services.create({
    name: "seam",
    type: "stream",
    upstream: upstream.parse({ nodes: [{ host: "127.0.0.1", port: 1 }] }),
  });
  await store.routes.create(svc.id, { name: "r", server_port: 9000 });
  await store.publications.publish(svc.id, { gateway_group_id: "default" });
  const plane = new RecordingDataPlane();
  const attached = attachDataPlane(store.feed, store.groups, "default", plane, createLogger("silent"));
  assert.equal(attached.ready(), false);
  await attached.idle();
  assert.deepEqual(plane.applied, [1]);
  assert.equal(attached.ready(), true);

  for (let i = 0; i < 5; i++) await store.publications.publish(svc.id, { gateway_group_id: "default" });
  assert.equal(attached.ready(), false, "a newer version is announced but not applied yet");
  await attached.idle();
  assert.equal(plane.maxInFlight, 1, "never two applies at once");
  assert.equal(plane.applied.at(-1), 6, "the latest version is applied");
  assert.ok(plane.applied.length < 6, "versions that arrived during an apply were coalesced");
  for (let i = 1; i < plane.applied.length; i++) assert.ok(plane.applied[i]! > plane.applied[i - 1]!);
  assert.equal(attached.ready(), true);

  plane.failVersion = 7;
  await store.publications.publish(svc.id, { gateway_group_id: "default" });
  await attached.idle();
  assert.equal(attached.appliedVersion(), 6, "a failed apply keeps the previous version");
  assert.equal(attached.ready(), false);
  plane.failVersion = undefined;
  await store.publications.publish(svc.id, { gateway_group_id: "default" });
  await attached.idle();
  assert.equal(attached.appliedVersion(), 8);
  assert.equal(attached.ready(), true);
  attached.detach();
});
