import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { killHard, startPausedAt } from "../helpers/paused.js";
import { appUpdate } from "../helpers/update.js";

// Notifications against an HTTP server of the test's own on 127.0.0.1: what arrives is what
// counts, never rollpoint's word for it.

interface Received {
  path: string;
  type: string | undefined;
  body: Record<string, unknown>;
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function webhook(status = 200): Promise<{ base: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = "";
    req.on("data", (c: Buffer) => {
      text += c.toString();
    });
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        type: req.headers["content-type"],
        body: JSON.parse(text) as Record<string, unknown>,
      });
      res.writeHead(status).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

// Every byte of every file under `dir`: the store must not hold a URL's token anywhere.
function allBytes(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    out += statSync(path).isDirectory() ? allBytes(path) : readFileSync(path).toString("latin1");
  }
  return out;
}

const TOKEN = "tk_9f3a51c2e7";
const TOPIC = "updates-4be1d0";

describe("notify", () => {
  it("one POST per outcome to each url whose `on` names it, a command with the message on stdin; the token nowhere but the manifest", async () => {
    const hook = await webhook();
    const u = await appUpdate(
      { "a.conf": "v1\n" },
      (app, dir) => `notify:
  - { url: "${hook.base}/${TOPIC}?auth=${TOKEN}", on: [rolledBack, rollbackFailed] }
  - { url: "${hook.base}/committed-only", on: [committed] }
  - { command: [sh, -c, 'cat > ${dir}/mail; echo "$0 $1" > ${dir}/args', "\${run.module}", "\${run.outcome}"] }
steps:
  - id: edit
    shell: echo v2 > ${app}/a.conf
  - id: health
    run: ["false"]
`,
    );
    const plan = await rollpoint(["--store", u.store, "plan", u.manifest]);
    expect(plan.stdout).toContain(`POST ${hook.base}/…, on rolledBack, rollbackFailed`);
    expect(plan.stdout).toContain(`POST ${hook.base}/…, on committed`);
    const run = await rollpoint(["--store", u.store, "run", u.manifest]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v1\n");

    expect(hook.received).toHaveLength(1);
    const [got] = hook.received;
    expect(got!.path).toBe(`/${TOPIC}?auth=${TOKEN}`);
    expect(got!.type).toBe("application/json");
    expect(got!.body).toMatchObject({
      module: "app",
      outcome: "rolledBack",
      host: hostname(),
      failedStep: "health",
      left: [],
    });
    expect(got!.body.title).toBe(`rollpoint app on ${hostname()}: rolledBack`);
    expect(got!.body.restored).toEqual([`file ${u.app}: restored`]);
    expect(String(got!.body.message)).toContain(
      "rolled back: everything in the rollback point is as it was before the update",
    );
    expect(readFileSync(join(u.dir, "args"), "utf8")).toBe("app rolledBack\n");
    const mail = readFileSync(join(u.dir, "mail"), "utf8");
    expect(mail).toContain(`rollpoint app on ${hostname()}: rolledBack`);
    expect(mail).toContain("failed: health");

    expect(run.stdout).toContain(`✓ ${hook.base}/…`);
    for (const secret of [TOKEN, TOPIC]) {
      expect(run.stdout + run.stderr + plan.stdout).not.toContain(secret);
      expect(allBytes(u.store)).not.toContain(secret);
    }
    const shown = await rollpoint(["--store", u.store, "--json", "history"]);
    expect(shown.stdout).not.toContain(TOKEN);
  });

  it("a dead URL and a webhook answering 500 change no exit code, and say so", async () => {
    const failing = await webhook(500);
    // A port nothing listens on: a server's, closed again.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const u = await appUpdate(
      { "a.conf": "v1\n" },
      () => `notify:
  - { url: "http://127.0.0.1:${dead}/${TOPIC}", timeout: 5s }
  - { url: "${failing.base}/${TOPIC}" }
steps:
  - id: edit
    run: ["true"]
`,
    );
    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest]);
    expect(run.exitCode, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as {
      outcome: string;
      notifications: Array<{ target: string; ok: boolean; error?: string }>;
    };
    expect(report.outcome).toBe("committed");
    expect(report.notifications).toEqual([
      { target: `http://127.0.0.1:${dead}/…`, ok: false, error: "ECONNREFUSED" },
      { target: `${failing.base}/…`, ok: false, error: "HTTP 500" },
    ]);
    expect(failing.received.map((r) => r.body.outcome)).toEqual(["committed"]);
    expect(run.stdout).not.toContain(TOPIC);
  });

  it("a run killed mid-update and recovered: the rolledBack notification goes to the URL in the manifest file", async () => {
    const hook = await webhook();
    const u = await appUpdate(
      { "a.conf": "v1\n" },
      (app) => `notify:
  - { url: "${hook.base}/${TOPIC}" }
steps:
  - id: edit
    shell: echo v2 > ${app}/a.conf
  - id: health
    run: ["true"]
`,
    );
    await killHard(
      await startPausedAt("state:step.health", ["--store", u.store, "run", u.manifest]),
    );
    expect(hook.received).toHaveLength(0);
    const recovered = await rollpoint(["--store", u.store, "recover"]);
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v1\n");
    expect(hook.received.map((r) => [r.path, r.body.outcome])).toEqual([
      [`/${TOPIC}`, "rolledBack"],
    ]);
    expect(allBytes(u.store)).not.toContain(TOPIC);
  });
});
