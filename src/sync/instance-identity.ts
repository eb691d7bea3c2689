/**
 * Who a gateway is to the control plane. The id is stable per data dir (a restarted gateway is the
 * same instance in `GET /api/gateway_groups/:gid/instances`), and two gateways on one host with
 * different data dirs are two instances.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";

const ID_FILE = "instance-id";

export async function loadInstanceId(dataDir: string): Promise<string> {
  const file = join(dataDir, ID_FILE);
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (/^[A-Za-z0-9._-]{1,128}$/.test(id)) return id;
  } catch {
    // first start in this data dir
  }
  await mkdir(dataDir, { recursive: true });
  const id = randomUUID();
  await writeFile(file, `${id}\n`);
  return id;
}

export function hostName(): string {
  try {
    return hostname();
  } catch {
    return "";
  }
}

/**
 * The address to show for this gateway: the listen address when it is a specific one, else the first
 * non-internal IPv4 of the host (what an operator would ssh to), else loopback.
 */
export function advertisedAddress(listenAddr: string): string {
  if (listenAddr !== "0.0.0.0" && listenAddr !== "::" && listenAddr !== "") return listenAddr;
  try {
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) {
        if (!info.internal && info.family === "IPv4") return info.address;
      }
    }
  } catch {
    // some runtimes refuse interface listing without permissions
  }
  return "127.0.0.1";
}
