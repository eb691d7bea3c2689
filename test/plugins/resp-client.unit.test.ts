/** The RESP encoder and reply parser limit-conn's Redis client uses, checked directly. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeCommand, parseReply, RespError } from "../../src/proxy/plugins/resp-client.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

test("a command is a RESP array of bulk strings, lengths in bytes", () => {
  assert.equal(
    new TextDecoder().decode(encodeCommand(["EXPIRE", "k€", 60])),
    "*3\r\n$6\r\nEXPIRE\r\n$4\r\nk€\r\n$2\r\n60\r\n",
  );
});

test("replies: simple, error, integer, bulk, null, array; an incomplete reply waits for more bytes", () => {
  assert.deepEqual(parseReply(bytes("+OK\r\n"), 0), { value: "OK", next: 5 });
  const error = parseReply(bytes("-ERR wrong\r\n"), 0)!.value;
  assert.ok(error instanceof RespError);
  assert.equal(error.message, "ERR wrong");
  assert.deepEqual(parseReply(bytes(":-3\r\n"), 0), { value: -3, next: 5 });
  assert.deepEqual(parseReply(bytes("$3\r\nabc\r\n"), 0), { value: "abc", next: 9 });
  assert.deepEqual(parseReply(bytes("$-1\r\n"), 0), { value: null, next: 5 });
  assert.deepEqual(parseReply(bytes("*2\r\n:1\r\n$1\r\nx\r\n"), 0)?.value, [1, "x"]);
  assert.equal(parseReply(bytes("$3\r\nab"), 0), undefined);
  assert.equal(parseReply(bytes("*2\r\n:1\r\n"), 0), undefined);
  assert.equal(parseReply(bytes(":12"), 0), undefined);
  const two = bytes(":1\r\n:2\r\n");
  const first = parseReply(two, 0)!;
  assert.deepEqual(parseReply(two, first.next)?.value, 2);
});
