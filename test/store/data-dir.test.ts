/**
 * The embedded database's files stay private to their owner whatever the umask (issue 12, finding 5):
 * dir 0700, files 0600, and a data dir other users can write is refused with a message saying how to fix it.
 */
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openStore } from "../../src/store/index.ts";

async function modes(path: string, out: Array<[string, number]> = []): Promise<Array<[string, number]>> {
  out.push([path, (await stat(path)).mode & 0o777]);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await modes(child, out);
    else if (entry.isFile()) out.push([child, (await stat(child)).mode & 0o777]);
  }
  return out;
}

describe("PGlite data dir permissions", () => {
  const dirs: string[] = [];
  const previous = process.umask();
  after(async () => {
    process.umask(previous);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("creates the data dir 0700 and every file 0600 under umask 022, and tightens an older dir's files", async () => {
    process.umask(0o022);
    const parent = await mkdtemp(join(tmpdir(), "sluice-perm-"));
    dirs.push(parent);
    const dataDir = join(parent, "data");
    const store = await openStore({ dataDir });
    await store.close();
    const all = await modes(dataDir);
    assert.ok(all.length > 100, `a PGlite data dir has many files (${all.length})`);
    const open = all.filter(([, mode]) => mode & 0o077);
    assert.deepEqual(open.slice(0, 5), [], `${open.length} of ${all.length} entries readable or writable by others`);
    assert.equal(all[0]![1], 0o700);

    // as an older version left it: dir 0755, files 0644
    await chmod(dataDir, 0o755);
    await chmod(join(dataDir, "global", "pg_control"), 0o644);
    process.umask(0o022);
    const again = await openStore({ dataDir });
    await again.close();
    assert.equal((await stat(join(dataDir, "global", "pg_control"))).mode & 0o777, 0o600);
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  });

  it("refuses a data dir that other users can write, saying how to fix it", async () => {
    const parent = await mkdtemp(join(tmpdir(), "sluice-perm-"));
    dirs.push(parent);
    const dataDir = join(parent, "shared");
    await mkdir(dataDir);
    await writeFile(join(dataDir, "placeholder"), "");
    await chmod(dataDir, 0o777);
    await assert.rejects(openStore({ dataDir }), (error: Error) => {
      assert.match(error.message, /writable by other users \(mode 0777\)/);
      assert.match(error.message, /chmod -R go-rwx/);
      return true;
    });
  });
});
