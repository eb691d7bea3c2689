/**
 * A PGlite data dir made once at build time (initdb'ed and migrated, `scripts/build-pgdata-template.ts`),
 * kept as one gzipped tar file: a fresh data dir is unpacked from it instead of running initdb in
 * WebAssembly at start, which costs seconds of CPU and leaves hundreds of MiB in PGlite's never-shrinking
 * memory. The tar is plain ustar (regular files and directories only), written and read here so that no
 * PGlite instance needs to hold the whole archive in its memory.
 */
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { promisify } from "node:util";
import { gunzip as gunzipCallback, gzip as gzipCallback } from "node:zlib";

const gzip = promisify(gzipCallback);
const gunzip = promisify(gunzipCallback);

/**
 * Where the build writes the template: the project's `dist/`, found relative to this module like the
 * migrations (`../../` from src/store/ in source, from dist/node/ in the Node bundle, from the binary's
 * embedded `src/store/`).
 */
export const DATA_DIR_TEMPLATE = new URL("../../dist/pgdata-template.tar.gz", import.meta.url);

/** the file whose presence makes a data dir a database: unpacked last, so an interrupted unpack is still "fresh" */
const VERSION_FILE = "PG_VERSION";
const BLOCK = 512;
const WRITE_BATCH = 4;

/** Packs the data dir's files and directories (paths relative to it) into a gzipped tar. */
export async function packDataDir(dataDir: string): Promise<Buffer> {
  const blocks: Buffer[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      const name = relative(dataDir, path).split(sep).join("/");
      if (entry.isDirectory()) {
        blocks.push(header(name, 0, "5"));
        await walk(path);
      } else if (entry.isFile()) {
        const data = await readFile(path);
        blocks.push(header(name, data.length, "0"), data, Buffer.alloc(padding(data.length)));
      }
    }
  };
  await walk(dataDir);
  blocks.push(Buffer.alloc(2 * BLOCK));
  return gzip(Buffer.concat(blocks), { level: 9 });
}

/**
 * Unpacks a template made by `packDataDir` into `dataDir` (which exists and holds no database): directories
 * 0700, files 0600, PG_VERSION last. Throws on an archive that is not one (corrupt, truncated, or a path
 * that leaves the data dir).
 */
export async function unpackDataDir(archive: Buffer, dataDir: string): Promise<void> {
  const tar = await gunzip(archive);
  const files: Array<{ target: string; data: Buffer }> = [];
  let versionFile: Buffer | undefined;
  for (let offset = 0; ; ) {
    if (offset + BLOCK > tar.length) throw new Error("data dir template: the archive ends without its end marker");
    const head = tar.subarray(offset, offset + BLOCK);
    if (head.every((byte) => byte === 0)) break;
    checkSum(head);
    const name = field(head, 0, 100);
    const size = Number.parseInt(field(head, 124, 12) || "0", 8);
    const type = field(head, 156, 1) || "0";
    const start = offset + BLOCK;
    if (!Number.isSafeInteger(size) || size < 0 || start + size > tar.length) {
      throw new Error(`data dir template: entry ${name} runs past the archive's end`);
    }
    const parts = name.split("/").filter(Boolean);
    if (parts.length === 0 || parts.some((part) => part === "." || part === "..")) {
      throw new Error(`data dir template: entry name ${JSON.stringify(name)} is not a path inside the data dir`);
    }
    const target = join(dataDir, ...parts);
    if (type === "5") await mkdir(target, { recursive: true, mode: 0o700 });
    else if (type === "0") {
      const data = tar.subarray(start, start + size);
      if (name === VERSION_FILE) versionFile = data;
      else files.push({ target, data });
    }
    offset = start + size + padding(size);
  }
  // a thousand small files: written a few at a time (the thread pool's width), not one after another
  for (let i = 0; i < files.length; i += WRITE_BATCH) {
    await Promise.all(files.slice(i, i + WRITE_BATCH).map((f) => writeFile(f.target, f.data, { mode: 0o600 })));
  }
  if (!versionFile) throw new Error(`data dir template: no ${VERSION_FILE} in the archive`);
  await writeFile(join(dataDir, VERSION_FILE), versionFile, { mode: 0o600 });
}

/** the template's bytes, or why there are none (missing or unreadable file) */
export async function readDataDirTemplate(url: URL = DATA_DIR_TEMPLATE): Promise<Buffer | string> {
  try {
    if (!(await stat(url)).isFile()) return `${url.pathname} is not a file`;
    return await readFile(url);
  } catch (error) {
    return (error as Error).message;
  }
}

function header(name: string, size: number, type: "0" | "5"): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`data dir template: path too long for ustar: ${name}`);
  const head = Buffer.alloc(BLOCK);
  head.write(name, 0, 100, "utf8");
  head.write(type === "5" ? "0000700\0" : "0000600\0", 100, "ascii");
  head.write("0000000\0", 108, "ascii");
  head.write("0000000\0", 116, "ascii");
  head.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  head.write("00000000000\0", 136, "ascii");
  head.write(type, 156, "ascii");
  head.write("ustar\u000000", 257, "ascii");
  head.write("        ", 148, "ascii");
  const sum = head.reduce((total, byte) => total + byte, 0);
  head.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return head;
}

function checkSum(head: Buffer): void {
  const stored = Number.parseInt(field(head, 148, 8), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : head[i]!;
  if (sum !== stored) throw new Error("data dir template: a tar header's checksum does not match (corrupt archive)");
}

function field(head: Buffer, start: number, length: number): string {
  const raw = head.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw
    .subarray(0, end === -1 ? length : end)
    .toString("utf8")
    .trim();
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
