/**
 * Redis Cluster key slots without a server: CRC16-XMODEM's check value, slots Redis documents, and hash
 * tags (https://redis.io/docs/reference/cluster-spec/#hash-tags). The cluster test checks the same
 * function against a real cluster's `CLUSTER KEYSLOT`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc16, keySlot } from "../../src/proxy/plugins/redis-cluster-client.ts";

test("CRC16-XMODEM's check value", () => {
  assert.equal(crc16(new TextEncoder().encode("123456789")), 0x31c3);
});

test("slots and hash tags as Redis Cluster computes them", () => {
  assert.equal(keySlot("foo"), 12182);
  assert.equal(keySlot("{user1000}.following"), keySlot("user1000"));
  assert.equal(keySlot("{user1000}.followers"), keySlot("{user1000}.following"));
  // an empty tag does not count: the whole key is hashed
  assert.equal(keySlot("foo{}{bar}"), crc16(new TextEncoder().encode("foo{}{bar}")) % 16384);
  // only the first {…} counts
  assert.equal(keySlot("foo{{bar}}zap"), keySlot("{bar"));
  assert.equal(keySlot("foo{bar}{zap}"), keySlot("bar"));
});
