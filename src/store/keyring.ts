/**
 * Encryption at rest for secrets in the database (certificate private keys), like APISIX's
 * `data_encryption.keyring` but with AES-256-GCM: a keyring holds one or more 32-byte keys; the first
 * encrypts, every key can decrypt what it encrypted. A sealed value is text:
 *
 *     v1:<key id>:<iv, base64>:<ciphertext and 16-byte tag, base64>
 *
 * The key id (8 hex digits of a SHA-256 of the key) says which key decrypts, so a keyring may hold old
 * keys while values are re-encrypted. Rotation: put a new key first; values sealed with an older key are
 * re-encrypted with the new one when they are next written (`needsReencrypt`), and an old key may be dropped once
 * nothing sealed with it is left. `sluice start` keeps its keyring in a 0600 file in the data directory;
 * `sluice control-plane` replicas share one from configuration (`SLUICE_KEYRING` or `SLUICE_KEYRING_FILE`).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** the keyring file's name in the data directory */
export const KEYRING_FILE_NAME = "keyring";

export class KeyringError extends Error {
  override name = "KeyringError";
}

interface RingKey {
  id: string;
  key: Buffer;
}

export class Keyring {
  readonly #keys: readonly RingKey[];

  /** `keys`: raw 32-byte keys, the encrypting one first. `source` names where they came from, for errors. */
  constructor(keys: readonly Uint8Array[], source = "keyring") {
    if (keys.length === 0) throw new KeyringError(`${source}: no key`);
    const seen = new Map<string, number>();
    this.#keys = keys.map((raw, i) => {
      if (raw.byteLength !== KEY_BYTES) {
        throw new KeyringError(`${source}: key ${i + 1} is ${raw.byteLength} bytes, an AES-256 key is ${KEY_BYTES}`);
      }
      const id = keyId(raw);
      const earlier = seen.get(id);
      if (earlier !== undefined) throw new KeyringError(`${source}: key ${i + 1} repeats key ${earlier + 1}`);
      seen.set(id, i);
      return { id, key: Buffer.from(raw) };
    });
  }

  /** Parses base64 keys separated by commas, spaces or new lines (`#` starts a comment line in a file). */
  static parse(text: string, source = "keyring"): Keyring {
    const words = text
      .split("\n")
      .filter((line) => !line.trimStart().startsWith("#"))
      .join(",")
      .split(/[\s,]+/)
      .filter((word) => word !== "");
    const keys = words.map((word, i) => {
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(word)) throw new KeyringError(`${source}: key ${i + 1} is not base64`);
      return Buffer.from(word, word.includes("-") || word.includes("_") ? "base64url" : "base64");
    });
    return new Keyring(keys, source);
  }

  /** a new random key, base64 */
  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString("base64");
  }

  /** the ids of the keys, the encrypting one first */
  get ids(): string[] {
    return this.#keys.map((k) => k.id);
  }

  /** the keys as `parse` reads them, one a line, the encrypting one first */
  serialize(): string {
    return `${this.#keys.map((k) => k.key.toString("base64")).join("\n")}\n`;
  }

  /** A keyring with `key` (base64) first and these keys after it: the first step of a rotation. */
  withNewKey(key: string = Keyring.generateKey()): Keyring {
    const fresh = Keyring.parse(key, "new key");
    return new Keyring([fresh.#keys[0]!.key, ...this.#keys.map((k) => k.key)]);
  }

  /**
   * Seals `plaintext` with the first key. `context` (e.g. `ssl/<id>/key`) is authenticated, not stored:
   * the value opens only with the same context, so a sealed value copied to another row does not open.
   */
  encrypt(plaintext: string, context = ""): string {
    const { id, key } = this.#keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}:${id}:${iv.toString("base64")}:${body.toString("base64")}`;
  }

  /** Opens a sealed value; a clear error when it is malformed, its key is not in the ring, or it was altered. */
  decrypt(sealed: string, context = ""): string {
    const parts = sealed.split(":");
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new KeyringError(`not a sealed value: expected "${VERSION}:<key id>:<iv>:<ciphertext>"`);
    }
    const [, id, ivText, bodyText] = parts as [string, string, string, string];
    const ring = this.#keys.find((k) => k.id === id);
    if (!ring) {
      throw new KeyringError(
        `sealed with key ${id}, which the keyring does not hold (it holds ${this.ids.join(", ")}): was a key removed too early?`,
      );
    }
    const iv = Buffer.from(ivText, "base64");
    const body = Buffer.from(bodyText, "base64");
    if (iv.byteLength !== IV_BYTES || body.byteLength < TAG_BYTES) {
      throw new KeyringError("sealed value is truncated: its iv or authentication tag is too short");
    }
    const decipher = createDecipheriv("aes-256-gcm", ring.key, iv);
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(body.subarray(body.byteLength - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.byteLength - TAG_BYTES)), decipher.final()]).toString(
        "utf8",
      );
    } catch {
      throw new KeyringError(
        `sealed value does not authenticate with key ${id}: it was altered, or its context differs`,
      );
    }
  }

  /** whether `sealed` was sealed with an older key and should be encrypted again on its next write */
  needsReencrypt(sealed: string): boolean {
    return sealed.split(":", 2)[1] !== this.#keys[0]!.id;
  }
}

/** whether a stored value is sealed (as opposed to a plaintext value written before encryption) */
export function isEncrypted(value: string): boolean {
  return /^v1:[0-9a-f]{8}:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/.test(value);
}

function keyId(key: Uint8Array): string {
  return createHash("sha256").update("sluice keyring key id\0").update(key).digest("hex").slice(0, 8);
}

/**
 * The keyring of `sluice start`: `<dataDir>/keyring`, created with one new key (mode 0600) when absent.
 * A file others can read is refused, as ssh refuses a readable private key.
 */
export async function loadOrCreateKeyringFile(
  dataDir: string,
): Promise<{ keyring: Keyring; path: string; created: boolean }> {
  const path = join(dataDir, KEYRING_FILE_NAME);
  const keyring = new Keyring([Buffer.from(Keyring.generateKey(), "base64")]);
  try {
    // "wx": never overwrite a keyring another process created a moment ago
    await writeFile(path, keyring.serialize(), { mode: 0o600, flag: "wx" });
    return { keyring, path, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return { keyring: await readKeyringFile(path), path, created: false };
}

/** Reads a keyring file, refusing one that group or others may read. */
export async function readKeyringFile(path: string): Promise<Keyring> {
  const info = await stat(path);
  if (process.platform !== "win32" && (info.mode & 0o077) !== 0) {
    throw new KeyringError(
      `${path}: keyring file mode is ${(info.mode & 0o777).toString(8)}, others may read it: chmod 600 ${path}`,
    );
  }
  return Keyring.parse(await readFile(path, "utf8"), path);
}

/** Rotates a keyring file: a new key first, the old ones kept; written whole and renamed into place. */
export async function rotateKeyringFile(path: string, newKey?: string): Promise<Keyring> {
  const rotated = (await readKeyringFile(path)).withNewKey(newKey);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, rotated.serialize(), { mode: 0o600, flag: "wx" });
  await rename(temporary, path);
  return rotated;
}

/**
 * The keyring of `sluice control-plane`, which every replica must share: `SLUICE_KEYRING` (base64 keys,
 * comma-separated, the encrypting one first) or `SLUICE_KEYRING_FILE` (a file as `sluice start` writes).
 */
export async function keyringFromEnvironment(env: Readonly<Record<string, string | undefined>>): Promise<Keyring> {
  const inline = env.SLUICE_KEYRING?.trim();
  const file = env.SLUICE_KEYRING_FILE?.trim();
  if (inline && file) throw new KeyringError("set SLUICE_KEYRING or SLUICE_KEYRING_FILE, not both");
  if (inline) return Keyring.parse(inline, "SLUICE_KEYRING");
  if (file) return readKeyringFile(file);
  throw new KeyringError(
    "a keyring is required to encrypt private keys: set SLUICE_KEYRING to base64 keys (e.g. `openssl rand -base64 32`) or SLUICE_KEYRING_FILE to a keyring file",
  );
}
