/**
 * The keyring that encrypts private keys at rest: AES-256-GCM round trips, rotation (new key first, old
 * values still open and are flagged for re-encryption), tampering and unknown keys refused with a clear
 * error, the 0600 keyring file of `sluice start`, and the configuration of `sluice control-plane`
 * (`SLUICE_KEYRING`, `SLUICE_KEYRING_FILE`). Keys made by the real `openssl rand -base64 32` load too.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  isEncrypted,
  KEYRING_FILE_NAME,
  Keyring,
  KeyringError,
  keyringFromEnvironment,
  loadOrCreateKeyringFile,
  readKeyringFile,
  rotateKeyringFile,
} from "../../src/store/keyring.ts";

const PEM_KEY =
  "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
let dir = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-keyring-"));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function keyringError(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => error instanceof KeyringError && pattern.test(error.message));
}

async function keyringRejects(run: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(run, (error: unknown) => error instanceof KeyringError && pattern.test(error.message));
}

describe("encrypt and decrypt", () => {
  test("a round trip, in the versioned text format, a fresh iv each time", () => {
    const ring = Keyring.parse(Keyring.generateKey());
    const sealed = ring.encrypt(PEM_KEY);
    assert.match(sealed, /^v1:[0-9a-f]{8}:[A-Za-z0-9+/=]{16}:[A-Za-z0-9+/=]+$/);
    assert.equal(sealed.split(":")[1], ring.ids[0]);
    assert.ok(isEncrypted(sealed));
    assert.ok(!isEncrypted(PEM_KEY));
    assert.ok(!sealed.includes("PRIVATE"));
    assert.equal(ring.decrypt(sealed), PEM_KEY);
    assert.notEqual(ring.encrypt(PEM_KEY), sealed, "a new iv for each encryption");
    assert.equal(ring.decrypt(ring.encrypt("")), "");
    assert.equal(ring.decrypt(ring.encrypt("ünïcødé ✓")), "ünïcødé ✓");
  });

  test("the context is authenticated: a value moved to another row does not decrypt", () => {
    const ring = Keyring.parse(Keyring.generateKey());
    const sealed = ring.encrypt(PEM_KEY, "ssl/1/key");
    assert.equal(ring.decrypt(sealed, "ssl/1/key"), PEM_KEY);
    keyringError(() => ring.decrypt(sealed, "ssl/2/key"), /does not authenticate .* altered, or its context differs/);
  });

  test("tampering with the ciphertext, the tag or the iv is detected", () => {
    const ring = Keyring.parse(Keyring.generateKey());
    const [version, id, iv, body] = ring.encrypt(PEM_KEY).split(":") as [string, string, string, string];
    const flip = (b64: string, at: number) => {
      const bytes = Buffer.from(b64, "base64");
      bytes[at]! ^= 0x01;
      return bytes.toString("base64");
    };
    const bodyBytes = Buffer.from(body, "base64").byteLength;
    for (const altered of [
      [version, id, iv, flip(body, 0)], // ciphertext
      [version, id, iv, flip(body, bodyBytes - 1)], // tag
      [version, id, flip(iv, 0), body],
    ]) {
      keyringError(() => ring.decrypt(altered.join(":")), /does not authenticate with key/);
    }
    keyringError(() => ring.decrypt([version, id, iv, body.slice(0, 8)].join(":")), /truncated/);
    keyringError(() => ring.decrypt(PEM_KEY), /not a sealed value/);
    keyringError(() => ring.decrypt(`v2:${id}:${iv}:${body}`), /not a sealed value/);
  });

  test("a value encrypted with a key the ring does not hold names that key", () => {
    const one = Keyring.parse(Keyring.generateKey());
    const other = Keyring.parse(Keyring.generateKey());
    const sealed = other.encrypt("secret");
    keyringError(
      () => one.decrypt(sealed),
      new RegExp(`sealed with key ${other.ids[0]}, which the keyring does not hold \\(it holds ${one.ids[0]}\\)`),
    );
  });
});

describe("rotation", () => {
  test("a new key first: new values use it, old values still decrypt and are flagged for re-encryption", () => {
    const before = Keyring.parse(Keyring.generateKey());
    const old = before.encrypt(PEM_KEY, "ssl/1/key");
    const after = before.withNewKey();
    assert.deepEqual(after.ids.slice(1), before.ids);
    assert.equal(after.decrypt(old, "ssl/1/key"), PEM_KEY);
    assert.ok(after.needsReencrypt(old));
    const fresh = after.encrypt(after.decrypt(old, "ssl/1/key"), "ssl/1/key");
    assert.ok(!after.needsReencrypt(fresh));
    assert.equal(fresh.split(":")[1], after.ids[0]);
    // once every value is re-encrypted, the old key can go
    const trimmed = Keyring.parse(after.serialize().split("\n")[0]!);
    assert.equal(trimmed.decrypt(fresh, "ssl/1/key"), PEM_KEY);
    keyringError(() => trimmed.decrypt(old, "ssl/1/key"), /does not hold/);
  });
});

describe("parsing keys", () => {
  test("comma- or line-separated base64 (standard or URL-safe), comments, keys from `openssl rand -base64 32`", () => {
    const fromOpenssl = execFileSync("openssl", ["rand", "-base64", "32"], { encoding: "utf8" }).trim();
    const a = Keyring.generateKey();
    const urlSafe = Buffer.from(Keyring.generateKey(), "base64").toString("base64url");
    const ring = Keyring.parse(`${fromOpenssl}, ${a}`);
    assert.equal(ring.ids.length, 2);
    const sameFromFile = Keyring.parse(`# rotated today\n${fromOpenssl}\n${a}\n${urlSafe}\n`);
    assert.deepEqual(sameFromFile.ids.slice(0, 2), ring.ids);
    assert.equal(sameFromFile.ids.length, 3);
    assert.equal(Keyring.parse(sameFromFile.serialize()).decrypt(ring.encrypt("x")), "x");
  });

  test("wrong sizes, non-base64, repeats and an empty ring are refused, naming the source and the key", () => {
    const short = Buffer.alloc(16, 1).toString("base64");
    keyringError(
      () => Keyring.parse(`${Keyring.generateKey()},${short}`, "SLUICE_KEYRING"),
      /^SLUICE_KEYRING: key 2 is 16 bytes, an AES-256 key is 32$/,
    );
    keyringError(() => Keyring.parse("not*base64", "SLUICE_KEYRING"), /SLUICE_KEYRING: key 1 is not base64/);
    const a = Keyring.generateKey();
    keyringError(() => Keyring.parse(`${a},${a}`), /key 2 repeats key 1/);
    keyringError(() => Keyring.parse(" , \n", "SLUICE_KEYRING"), /SLUICE_KEYRING: no key/);
  });
});

describe("the keyring file of `sluice start`", () => {
  test("created once with mode 0600, then read back; values survive a restart", async () => {
    const dataDir = await mkdtemp(join(dir, "data-"));
    const first = await loadOrCreateKeyringFile(dataDir);
    assert.equal(first.created, true);
    assert.equal(first.path, join(dataDir, KEYRING_FILE_NAME));
    assert.equal((await stat(first.path)).mode & 0o777, 0o600);
    const sealed = first.keyring.encrypt(PEM_KEY);
    const second = await loadOrCreateKeyringFile(dataDir);
    assert.equal(second.created, false);
    assert.deepEqual(second.keyring.ids, first.keyring.ids);
    assert.equal(second.keyring.decrypt(sealed), PEM_KEY);
  });

  test("rotation prepends a key in the file, keeping 0600", async () => {
    const dataDir = await mkdtemp(join(dir, "data-"));
    const { keyring, path } = await loadOrCreateKeyringFile(dataDir);
    const sealed = keyring.encrypt(PEM_KEY);
    const rotated = await rotateKeyringFile(path);
    assert.deepEqual(rotated.ids.slice(1), keyring.ids);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const reread = await readKeyringFile(path);
    assert.deepEqual(reread.ids, rotated.ids);
    assert.equal(reread.decrypt(sealed), PEM_KEY);
    assert.ok(reread.needsReencrypt(sealed));
  });

  test("a keyring file others may read is refused, with the fix in the message", async () => {
    const dataDir = await mkdtemp(join(dir, "data-"));
    const { path } = await loadOrCreateKeyringFile(dataDir);
    await chmod(path, 0o644);
    await keyringRejects(
      () => loadOrCreateKeyringFile(dataDir),
      /keyring file mode is 644, others may read it: chmod 600/,
    );
  });
});

describe("the keyring of `sluice control-plane` from configuration", () => {
  test("SLUICE_KEYRING: comma-separated base64 keys, the first encrypts", async () => {
    const a = Keyring.generateKey();
    const b = Keyring.generateKey();
    const ring = await keyringFromEnvironment({ SLUICE_KEYRING: `${a},${b}` });
    const onlyB = await keyringFromEnvironment({ SLUICE_KEYRING: b });
    assert.equal(ring.decrypt(onlyB.encrypt("from a replica with the old key")), "from a replica with the old key");
    assert.equal(ring.ids[0], Keyring.parse(a).ids[0]);
  });

  test("SLUICE_KEYRING_FILE: a file as `sluice start` writes it", async () => {
    const path = join(dir, "control-plane.keyring");
    await writeFile(path, `${Keyring.generateKey()}\n`, { mode: 0o600 });
    const ring = await keyringFromEnvironment({ SLUICE_KEYRING_FILE: path });
    assert.equal(ring.ids.length, 1);
    assert.equal((await readFile(path, "utf8")).trim().length, 44);
  });

  test("none, both, or a bad key: a clear error", async () => {
    await keyringRejects(
      () => keyringFromEnvironment({}),
      /a keyring is required .* SLUICE_KEYRING .* SLUICE_KEYRING_FILE/,
    );
    await keyringRejects(
      () => keyringFromEnvironment({ SLUICE_KEYRING: Keyring.generateKey(), SLUICE_KEYRING_FILE: "/x" }),
      /not both/,
    );
    await keyringRejects(
      () => keyringFromEnvironment({ SLUICE_KEYRING: "c2hvcnQ=" }),
      /SLUICE_KEYRING: key 1 is 5 bytes/,
    );
  });
});
