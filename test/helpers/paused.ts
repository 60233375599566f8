import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach } from "vitest";
import { CLI } from "./cli.js";
import { until } from "./wait.js";

// A test that fails before it kills its paused run would leave it parked forever.
const parked = new Set<ChildProcess>();
afterEach(() => {
  for (const child of parked) if (child.exitCode === null) child.kill("SIGKILL");
  parked.clear();
});

export interface PausedRun {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Everything it printed so far, stdout and stderr as they came. */
  output(): string;
}

/**
 * Start the built CLI with `ROLLPOINT_PAUSE_AT=point` and resolve once it reports that it is
 * parked there: the test then kills it at exactly that instant. `command` runs it another way
 * (the `rollpoint` launcher) instead of `node dist/cli/main.js`.
 */
export async function startPausedAt(
  point: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  command: string[] = [process.execPath, CLI],
): Promise<PausedRun> {
  const [program, ...before] = command as [string, ...string[]];
  const child = spawn(program, [...before, ...args], {
    env: { ...env, ROLLPOINT_PAUSE_AT: point },
    stdio: ["ignore", "pipe", "pipe"],
  });
  parked.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  let seen = "";
  await new Promise<void>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(`paused at ${point}`)) resolve();
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    void exited.then((code) =>
      reject(new Error(`exited ${code} before pausing at ${point}: ${seen}`)),
    );
  });
  return { child, exited, output: () => seen };
}

/**
 * `rollpoint run <manifest>` parked at `point` (ROLLPOINT_PAUSE_UNTIL) until the test calls
 * `release()`, having changed the world meanwhile (a signal sent, a disk filled); `release`
 * resolves with its exit code and everything it printed.
 */
export async function runParkedAt(
  point: string,
  where: { store: string; manifest: string; dir: string },
  env: NodeJS.ProcessEnv = {},
): Promise<PausedRun & { release(): Promise<{ code: number | null; out: string }> }> {
  const go = join(where.dir, "go");
  const run = await startPausedAt(point, ["--store", where.store, "run", where.manifest], {
    ...process.env,
    ...env,
    ROLLPOINT_PAUSE_UNTIL: go,
  });
  return {
    ...run,
    release: async () => {
      writeFileSync(go, "");
      const code = await run.exited;
      return { code, out: run.output() };
    },
  };
}

export async function killHard(run: PausedRun): Promise<void> {
  run.child.kill("SIGKILL");
  await run.exited;
}

/**
 * `rollpoint run` as a cron job would start it, SIGKILLed once `ready` holds (a step has begun
 * its work): the runner dies as in a power loss, its steps' processes left for `recover`.
 */
export async function runKilledWhen(
  args: string[],
  what: string,
  ready: () => boolean,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env,
    stdio: "ignore",
  });
  parked.add(child);
  await until(what, ready);
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
}
