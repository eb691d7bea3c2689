/**
 * The seed's walkthrough in a real browser (Debian's Chromium driven by playwright-core), by the labels a
 * user of API7 sees: sign in, Add Service (Stream, TCP), Add Stream Route, Publish to `default` with a
 * node at MariaDB, then the real `mariadb` client goes through the gateway; a client from another
 * address is refused; a bad Server Port shows the API's message beside the field; the Traffic page shows
 * the connection; rollback and unpublish work from the page. Every page is screenshotted under
 * test-output/dashboard/ for a person to look at.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { freePort } from "../fixtures/ports.ts";
import { requireCommand, run } from "../fixtures/processes.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const shots = join(root, "test-output/dashboard");
const CHROMIUM = "/usr/bin/chromium";
const KEY = "dashboard-test-admin-key-0123456789";
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let child: ChildProcess | undefined;
let context: BrowserContext | undefined;
const temps: string[] = [];

async function startSluice(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), "sluice-dashboard-"));
  temps.push(dataDir);
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_ADMIN_KEY: KEY, SLUICE_LOG_LEVEL: "info" };
  for (const name of ["DATABASE_URL", "SLUICE_ADMIN_ADDR", "SLUICE_STATUS_ADDR", "SLUICE_DATA_DIR"]) delete env[name];
  const args = ["start", "--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0", "--data-dir", dataDir];
  const proc = spawn(process.execPath, ["--import", "tsx", "runtime/node/main.ts", ...args], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child = proc;
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice start did not come up in 120 s\n${stderr}`)), 120_000);
    proc.once("exit", (code) => reject(new Error(`sluice start exited with ${code}\n${stderr}`)));
    let buffer = "";
    let admin = "";
    proc.stdout!.on("data", (d: Buffer) => {
      buffer += d.toString();
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const json = JSON.parse(line) as { msg?: string; addr?: string };
        if (json.msg === "admin api listening") admin = json.addr!;
        if (json.msg === "status api listening") {
          clearTimeout(timer);
          resolve(`http://${admin}`);
        }
      }
    });
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** the text of the error slot tied to a control (`aria-describedby`) */
async function errorBeside(control: Locator): Promise<string> {
  const id = await control.getAttribute("id");
  return (await control.page().locator(`[id="${id}-error"]`).textContent()) ?? "";
}

function mariadb(port: number) {
  const args = ["-h127.0.0.1", `-P${port}`, "--protocol=tcp", "-uroot", "-N", "-B", "--connect-timeout=5"];
  return run("mariadb", [...args, "-e", "select 1"], 15_000);
}

async function eventually<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("dashboard walkthrough in Chromium", { timeout: 300_000 }, () => {
  let base: string;
  let page: Page;
  let routePort: number;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/deps/dashboard.sh`);
    requireCommand("mariadb", "scripts/deps/proxy.sh");
    await mkdir(shots, { recursive: true });
    base = await startSluice();
    const profile = await mkdtemp(join(tmpdir(), "sluice-chromium-"));
    temps.push(profile);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("dialog", (dialog) => void dialog.accept());
    routePort = await freePort();
  });

  after(async () => {
    await context?.close();
    child?.kill("SIGTERM");
    for (const dir of temps) await rm(dir, { recursive: true, force: true });
  });

  it("signs in with the admin key into an HttpOnly, SameSite=Strict session, never the key in the URL or storage", async () => {
    await page.goto(base);
    await shot(page, "01-sign-in");
    const wrong = page.getByLabel("Admin key");
    await wrong.fill("not-the-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator('[aria-invalid="true"]').waitFor();
    assert.match(await errorBeside(wrong), /not an admin key/);
    await page.getByLabel("Admin key").fill(KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Services", exact: true }).waitFor();
    const cookies = await context!.cookies(base);
    const session = cookies.find((c) => c.name === "sluice_session");
    assert.ok(session, "a session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.ok(!page.url().includes(KEY));
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    assert.ok(!stored.includes(KEY), "the key is in neither localStorage nor sessionStorage");
    // a change without the session's CSRF token is refused even with the cookie
    const forged = await page.evaluate(async () => {
      const r = await fetch("/api/services", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "forged", type: "stream" }),
      });
      return r.status;
    });
    assert.equal(forged, 401);
  });

  it("Add Service (Stream, TCP) lands on the service's details", async () => {
    await page.getByRole("link", { name: "Add Service" }).click();
    await page.getByLabel("Name", { exact: true }).fill("mariadb");
    await page.getByLabel("Description").fill("MariaDB through Sluice");
    await page.getByLabel("Service Type").selectOption({ label: "Stream" });
    await page.getByLabel("Upstream Scheme").selectOption({ label: "TCP" });
    assert.match((await page.getByText("cannot be changed").textContent()) ?? "", /cannot be changed/);
    await shot(page, "02-add-service");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.getByRole("heading", { name: "mariadb" }).waitFor();
    assert.equal(await page.getByLabel("Service Type").inputValue(), "Stream");
    assert.equal(await page.getByLabel("Service Type").getAttribute("readonly"), "");
  });

  it("Add Stream Route shows the API's message beside Server Port and keeps what was typed", async () => {
    await page.getByRole("button", { name: "Add Stream Route" }).click();
    await page.getByLabel("Name", { exact: true }).last().fill("mysql-local");
    const port = page.getByLabel("Server Port");
    await port.fill("70000");
    await page.getByLabel("Remote Address").fill("127.0.0.1");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.locator('[aria-invalid="true"]').waitFor();
    assert.equal(await errorBeside(port), 'invalid "server_port": must be <= 65535');
    assert.equal(await port.getAttribute("aria-invalid"), "true");
    assert.equal(await page.getByLabel("Remote Address").inputValue(), "127.0.0.1", "nothing typed is lost");
    await shot(page, "03-route-error");

    await port.fill(String(routePort));
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.getByRole("cell", { name: "mysql-local", exact: true }).waitFor();
    assert.ok(await page.getByRole("cell", { name: String(routePort), exact: true }).isVisible());
    await shot(page, "04-service-details");
  });

  it("Plugins: the prometheus form is generated from its schema and enables the plugin", async () => {
    await page.getByLabel("Plugin", { exact: true }).selectOption("prometheus");
    const form = page.locator("form", { has: page.getByRole("heading", { name: "prometheus" }) });
    assert.equal(await form.getByLabel("prefer_name").isChecked(), false, "the schema's default is shown");
    await form.getByRole("button", { name: "Save Plugin" }).click();
    await page.getByText("Enabled: prometheus").waitFor();
    await page.getByText("JSON view").click();
    assert.match((await page.locator("pre.json").textContent()) ?? "", /"prometheus"/);
  });

  it("Publish to default with Add Node at MariaDB: the mariadb client runs select 1 through the route", async () => {
    const publish = page.locator("form", { has: page.getByRole("heading", { name: "Publish" }) });
    await publish.getByLabel("Gateway Group").selectOption({ label: "default" });
    await publish.getByRole("button", { name: "Add Node" }).click();
    await publish.getByLabel("Host").fill("127.0.0.1");
    await publish.getByLabel("Port", { exact: true }).fill("3306");
    await publish.getByRole("button", { name: "Publish", exact: true }).click();
    await page.getByText("Published version 1.0.0").waitFor();
    await shot(page, "05-published");
    const ok = await eventually("select 1 through the gateway", async () => {
      const r = await mariadb(routePort);
      return r.code === 0 ? r : undefined;
    });
    assert.equal(ok.stdout.trim(), "1");
  });

  it("a client from 127.0.0.2 does not match Remote Address 127.0.0.1 and is refused", async () => {
    // MariaDB speaks first: directly, a client from 127.0.0.2 gets its greeting; through the gateway, nothing
    const greetingBytes = (port: number) =>
      new Promise<number>((resolve) => {
        let bytes = 0;
        const socket = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
        socket.on("data", (d) => {
          bytes += d.length;
          socket.end();
        });
        socket.on("error", () => {});
        socket.on("close", () => resolve(bytes));
        socket.setTimeout(5000, () => socket.destroy());
      });
    assert.ok((await greetingBytes(3306)) > 0, "MariaDB itself greets 127.0.0.2");
    assert.equal(await greetingBytes(routePort), 0, "the gateway closes 127.0.0.2 without a byte");
  });

  it("the Traffic page shows the connection, updated live", async () => {
    await page.getByRole("link", { name: "Traffic" }).click();
    await page.getByRole("heading", { name: "Traffic" }).waitFor();
    const chart = page.locator("figure", { hasText: "Route mariadb / mysql-local" });
    await chart.waitFor();
    await chart.locator("svg polyline").first().waitFor();
    const totals = page.locator(".totals");
    // the gateway's counters are sampled every 2 s, so the latest connections show within a sample or two
    const seen = await eventually("the connections in the totals", async () => {
      const text = (await totals.textContent()) ?? "";
      return / [1-9]\d* without a route/.test(text) ? text : undefined;
    });
    assert.match(seen, /Since start: [1-9]\d* connections, [1-9]\d* proxied/);
    // a new connection shows up without reloading the page
    const before = (await totals.textContent()) ?? "";
    assert.equal((await mariadb(routePort)).code, 0);
    await eventually("the totals to move", async () => ((await totals.textContent()) !== before ? true : undefined));
    await shot(page, "06-traffic");
  });

  it("a second version, a diff, rollback and unpublish from the gateway group page", async () => {
    await page.getByRole("link", { name: "Services" }).click();
    await page.getByRole("link", { name: "mariadb" }).click();
    const publish = page.locator("form", { has: page.getByRole("heading", { name: "Publish" }) });
    await publish.getByRole("button", { name: "Add Node" }).click();
    await publish.getByLabel("Host").fill("127.0.0.1");
    await publish.getByLabel("Port", { exact: true }).fill("3306");
    await publish.getByLabel("Weight").fill("5");
    await publish.getByRole("button", { name: "Publish", exact: true }).click();
    await page.getByText("Published version 1.0.1").waitFor();

    await page.getByRole("link", { name: "See the gateway group" }).click();
    await page.getByRole("heading", { name: "Gateway Group default" }).waitFor();
    await page.getByText("Diff two versions").click();
    await page.getByRole("button", { name: "Show Diff" }).click();
    assert.match((await page.locator(".diff ins").allTextContents()).join("\n"), /"weight": 5/);
    await shot(page, "07-gateway-group");

    await page.getByRole("button", { name: "Rollback to 1.0.0" }).click();
    await page.getByRole("heading", { name: /mariadb — version 1\.0\.0/ }).waitFor();
    assert.equal((await mariadb(routePort)).code, 0, "still served after the rollback");

    await page.getByRole("button", { name: "Unpublish" }).click();
    await page.getByText("Nothing is published in this group.").waitFor();
    await eventually("the listener to close", async () => ((await mariadb(routePort)).code !== 0 ? true : undefined));
    await shot(page, "08-unpublished");
  });

  it("reports its page weight and render time (measured, not asserted)", async (t) => {
    await page.goto(`${base}/#/services`);
    await page.reload();
    await page.getByRole("heading", { name: "Services", exact: true }).waitFor();
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      const scripts = performance
        .getEntriesByType("resource")
        .filter((r) => (r as PerformanceResourceTiming).initiatorType === "script")
        .map((r) => (r as PerformanceResourceTiming).decodedBodySize);
      const api = performance
        .getEntriesByType("resource")
        .filter((r) => (r as PerformanceResourceTiming).initiatorType === "fetch");
      return {
        apiCalls: api.length,
        slowestApiMs: Math.max(0, ...api.map((r) => r.duration)),
        scriptBytes: scripts.reduce((a, b) => a + b, 0),
        domContentLoadedMs: nav.domContentLoadedEventEnd,
        renderMs: Number(document.documentElement.dataset.renderMs),
        firstPageMs: performance.now(),
      };
    });
    t.diagnostic(`dashboard script ${m.scriptBytes} bytes; DOMContentLoaded ${m.domContentLoadedMs.toFixed(0)} ms`);
    t.diagnostic(
      `services page: ${m.renderMs} ms from route to rendered, ${m.firstPageMs.toFixed(0)} ms since navigation`,
    );
    t.diagnostic(`${m.apiCalls} API calls, the slowest ${m.slowestApiMs.toFixed(0)} ms`);
    assert.ok(m.scriptBytes > 0, "the script was loaded");
  });

  it("reads at phone width, and Sign out ends the session", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Services" }).click();
    await page.getByRole("heading", { name: "Services", exact: true }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`);
    await shot(page, "09-services-phone");
    await page.setViewportSize({ width: 1280, height: 800 });
    await shot(page, "10-services");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin key").waitFor();
    const status = await page.evaluate(async () => (await fetch("/api/services")).status);
    assert.equal(status, 401);
  });
});
