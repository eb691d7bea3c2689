/**
 * The gateway's on-disk copy of the last config it applied successfully, so that a gateway restarted
 * while every control plane is down still serves. Written atomically (temp file + rename): a crash
 * mid-write leaves the previous cache intact, never a torn file.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { GatewayConfig } from "../config/types.ts";

export const CONFIG_CACHE_FILE = "config-cache.json";

interface CacheFile {
  group: string;
  saved_at: string;
  config: GatewayConfig;
}

export async function writeConfigCache(dataDir: string, group: string, config: GatewayConfig): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, CONFIG_CACHE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const body: CacheFile = { group, saved_at: new Date().toISOString(), config };
  await writeFile(tmp, JSON.stringify(body), { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * The cached config of `group` (matched by name or id), or undefined when there is none, it belongs
 * to another group, or it cannot be read (the reason is returned so the caller can log it).
 */
export async function readConfigCache(
  dataDir: string,
  group: string,
): Promise<{ config?: GatewayConfig; problem?: string }> {
  let text: string;
  try {
    text = await readFile(join(dataDir, CONFIG_CACHE_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    return { problem: (error as Error).message };
  }
  try {
    const body = JSON.parse(text) as Partial<CacheFile>;
    const config = body.config;
    if (!config || typeof config.version !== "number" || !Array.isArray(config.services)) {
      return { problem: "cache file has no config" };
    }
    if (body.group !== group && config.gateway_group?.id !== group && config.gateway_group?.name !== group) {
      return { problem: `cache belongs to group '${body.group}', not '${group}'` };
    }
    return { config };
  } catch (error) {
    return { problem: `cache file is not valid JSON: ${(error as Error).message}` };
  }
}
