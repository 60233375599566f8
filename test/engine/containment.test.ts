import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { CLI, rollpoint, runWithStdout } from "../helpers/cli.js";
import { sql } from "../helpers/postgres.js";
import { liveRun } from "./live-run.js";
import { scenario } from "./scenario.js";

/** Pids of live processes whose ROLLPOINT_JAIL starts with `prefix` (zombies do not count). */
function carrying(prefix: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const environ = readFileSync(`/proc/${name}/environ`, "latin1").split("\0");
      if (environ.some((e) => e.startsWith(`ROLLPOINT_JAIL=${prefix}`))) found.push(Number(name));
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

/** Whether this host lets rollpoint make cgroup v2 directories (root on a cgroup2 mount). */
function cgroupsAvailable(): boolean {
  const own = readFileSync("/proc/self/cgroup", "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"));
  const mount = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .find((l) => l.includes(" - cgroup2 "));
  return Boolean(own && mount && process.getuid?.() === 0);
}

// A step that leaves writers behind: one in its process group, one that left the group with
// setsid, each rewriting a protected file every 0.2 s for as long as it lives. A leftover that
// survives is seen whatever the machine's speed: the file keeps changing after the rollback.
const LEAVES_WRITERS = (dir: string, app: string) => `  - id: leaves-writers
    shell: |
      echo "$ROLLPOINT_JAIL" > ${dir}/jail
      (while true; do echo late-write > ${app}/etc/app.conf; sleep 0.2; done) &
      echo $! > ${dir}/writer.pid
      setsid sh -c 'echo $$ > ${dir}/escapee.pid; while true; do echo late > ${app}/etc/late.conf; sleep 0.2; done' &
      while [ ! -s ${dir}/escapee.pid ]; do sleep 0.05; done
      echo writers-started
      sleep 600
`;

describe("a step's processes never outlive it", () => {
  for (const mode of ["cgroup", "pgroup"] as const) {
    it(`SIGKILL of the runner, then recover: the step's leftovers are killed before the restore (${mode})`, async () => {
      const s = await scenario({ extraSteps: (dir) => LEAVES_WRITERS(dir, join(dir, "app")) });
      const env = { ...s.env, ...(mode === "pgroup" ? { ROLLPOINT_CONTAINMENT: "pgroup" } : {}) };
      const before = await s.state();
      const run = liveRun(s.store, s.manifest, env);
      await run.until("writers-started");
      run.child.kill("SIGKILL");
      await run.exited;
      const marker = readFileSync(join(s.dir, "jail"), "utf8").trim();
      const runId = marker.split(".")[0]!;
      const writer = Number(readFileSync(join(s.dir, "writer.pid"), "utf8"));
      const escapee = Number(readFileSync(join(s.dir, "escapee.pid"), "utf8"));
      // The runner is dead and its step's processes are still writing: the escape recover closes.
      expect(alive(writer) && alive(escapee)).toBe(true);

      const recovered = await rollpoint(["--store", s.store, "--json", "recover"], { env });
      expect(recovered.exitCode, recovered.stderr).toBe(0);
      const [report] = JSON.parse(recovered.stdout).recovered;
      expect(report).toMatchObject({ runId, outcome: "rolledBack" });
      expect(report.killed).toBeGreaterThanOrEqual(3);
      expect(alive(writer)).toBe(false);
      expect(alive(escapee)).toBe(false);
      expect(carrying(`${runId}.`)).toEqual([]);
      // Five of the writers' periods later, nothing has written into the restored tree.
      const stamp = statSync(join(s.app, "etc/app.conf")).mtimeMs;
      await sleep(1000);
      expect(statSync(join(s.app, "etc/app.conf")).mtimeMs).toBe(stamp);
      expect(await s.state()).toEqual(before);
    });
  }

  it("under a cgroup, even a setsid escapee that clears its environment is killed", async (ctx) => {
    if (!cgroupsAvailable()) {
      // Without cgroup v2 such an escapee is the documented remaining escape (docs/recovery.md).
      ctx.skip();
    }
    const s = await scenario({
      extraSteps: (dir) => `  - id: hides
    shell: |
      env -i setsid sh -c 'echo $$ > ${dir}/hidden.pid; while true; do echo x > ${dir}/app/etc/hidden; sleep 0.2; done' &
      while [ ! -s ${dir}/hidden.pid ]; do sleep 0.05; done
      echo hidden-started
      sleep 600
`,
    });
    const before = await s.state();
    const run = liveRun(s.store, s.manifest, s.env);
    await run.until("hidden-started");
    run.child.kill("SIGKILL");
    await run.exited;
    const hidden = Number(readFileSync(join(s.dir, "hidden.pid"), "utf8"));
    expect(alive(hidden)).toBe(true);
    const recovered = await rollpoint(["--store", s.store, "recover"], { env: s.env });
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(alive(hidden)).toBe(false);
    expect(await s.state()).toEqual(before);
  });

  it("a step that ends leaving a background process: the process is killed when the step ends", async () => {
    const s = await scenario({
      failAt: "none",
      extraSteps: (dir) => `  - id: daemonizes
    shell: |
      (trap '' TERM; while true; do sleep 0.2; done) &
      echo $! > ${dir}/bg.pid
`,
    });
    const result = await s.runJson();
    expect(result.exitCode, result.stderr).toBe(0);
    // It ignored SIGTERM, so it took the SIGKILL after the grace; the step still ended.
    expect(alive(Number(readFileSync(join(s.dir, "bg.pid"), "utf8")))).toBe(false);
  });

  it("SIGHUP during a step: exit 1, everything restored, the step's processes gone", async () => {
    const s = await scenario({ extraSteps: (dir) => LEAVES_WRITERS(dir, join(dir, "app")) });
    const before = await s.state();
    const run = liveRun(s.store, s.manifest, s.env);
    await run.until("writers-started");
    run.child.kill("SIGHUP");
    expect(await run.exited).toBe(1);
    expect(run.output.stderr).toContain("SIGHUP: stopping the update and rolling back");
    expect(run.output.stdout).toContain(
      "rolled back: everything in the rollback point is as it was before the update",
    );
    const runId = readFileSync(join(s.dir, "jail"), "utf8").split(".")[0]!;
    expect(carrying(`${runId}.`)).toEqual([]);
    expect(alive(Number(readFileSync(join(s.dir, "escapee.pid"), "utf8")))).toBe(false);
    expect(await s.state()).toEqual(before);
  });
});

describe("a SQL statement of an aborted step", () => {
  it("is cancelled on the server before the rollback restores the database", async () => {
    const s = await scenario({
      extraSteps: () => `  - id: slow-sql
    sql: { database: main, file: slow.sql }
`,
    });
    writeFileSync(join(s.dir, "slow.sql"), "CREATE TABLE sneaky (x int); SELECT pg_sleep(600);");
    const before = await s.state();
    const run = liveRun(s.store, s.manifest, s.env);
    await run.until("step slow-sql");
    // Wait until the statement is running on the server, then stop the run.
    while (
      (
        await sql("SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE $2", [
          s.pg,
          "%pg_sleep(600)%",
        ])
      ).length === 0
    ) {
      await sleep(50);
    }
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(1);
    expect(run.output.stdout).toContain("canceling statement due to user request");
    expect(
      await sql("SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [
        "%pg_sleep(600)%",
      ]),
    ).toEqual([]);
    expect(await s.state()).toEqual(before);
  });
});

describe("output can never stop a run", () => {
  it("stdout closed at once: the run finishes with its real outcome, and the exit code says it", async () => {
    const s = await scenario();
    const before = await s.state();
    // `rollpoint run … | head -0`: the reader goes away before the first line.
    const { exitCode: code, stderr } = await runWithStdout(
      ["--store", s.store, "run", s.manifest],
      {
        env: s.env,
        closeStdout: true,
      },
    );
    expect(stderr).not.toContain("EPIPE");
    expect(code, stderr).toBe(1);
    const history = await rollpoint(["--store", s.store, "--json", "history"]);
    expect(history.stdout).toContain('"rolledBack"');
    expect(await s.state()).toEqual(before);
  });

  it("a step printing 200 MB without a newline and 50 MB of lines: the run commits, memory and log stay bounded", async () => {
    const s = await scenario({
      failAt: "none",
      extraSteps: () => `  - id: no-newline
    shell: head -c 200000000 /dev/zero | tr '\\0' x
  - id: many-lines
    shell: yes | head -c 50000000
`,
    });
    const child = spawn(process.execPath, [CLI, "--store", s.store, "--json", "run", s.manifest], {
      env: s.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    // The runner's high-water mark of resident memory, read until it exits.
    let peakKb = 0;
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done) {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      } catch {
        // Exited between the check and the read.
      }
      await sleep(20);
    }
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout).outcome).toBe("committed");
    // Node itself takes about 70 MB here; keeping 200 MB of output would take far more than 300.
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThan(300 * 1024);
    const [log] = readdirSync(join(s.store, "logs"));
    const text = readFileSync(join(s.store, "logs", log!), "utf8");
    expect(statSync(join(s.store, "logs", log!)).size).toBeLessThanOrEqual(
      2 * 64 * 2 ** 20 + 2 ** 16,
    );
    expect(text).toMatch(/\[many-lines\] … \d+ more lines not logged/);
    // The 200 MB "line" was cut into 64 KiB pieces, 64 MiB of them kept.
    expect(text).toContain(`[no-newline] ${"x".repeat(65536)}\n`);
  });
});
