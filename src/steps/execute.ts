import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, resolve } from "node:path";
import type { DatabaseConfig } from "../backups/databases/config.js";
import { databaseKind } from "../backups/databases/kind.js";
import type { ServiceManager } from "../backups/services/manager.js";
import { describeError } from "../errors.js";
import { DEFAULTS } from "../manifest/defaults.js";
import {
  type ServiceVerb,
  stepKindOf,
  type WrittenDatabase,
  type WrittenStep,
} from "../manifest/types.js";
import { type Clock, sleepOn, systemClock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import type { Containment } from "./containment.js";
import { runCommand } from "./process.js";

export interface StepContext {
  manifestFile: string;
  databases: readonly WrittenDatabase[];
  services: ServiceManager;
  containment: Containment;
  signal: AbortSignal;
  onLines: (lines: string[], stream: "stdout" | "stderr") => void;
  /** For retries' backoff, checks' intervals and settle windows (the run's clock). */
  clock?: Clock;
}

/**
 * Why a step failed, for scripts (`--json`, history): it timed out, was interrupted, exited
 * non-zero, was killed by a signal, its check or SQL failed, or its kind is unknown.
 */
export type StepFailureCode =
  | "TIMEOUT"
  | "INTERRUPTED"
  | "EXIT"
  | "SIGNAL"
  | "CHECK"
  | "SQL"
  | "UNKNOWN_KIND";

/**
 * A step that did not succeed, with why, for the run's report. (`failure`, not `code`: an
 * error's `code` is an errno's to describeError, which would put it before the message.)
 */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly failure: StepFailureCode,
  ) {
    super(message);
  }

  get timedOut(): boolean {
    return this.failure === "TIMEOUT";
  }
}

/** Run one step, with its timeout and retries (backoff 0.5 s, 1 s, 2 s...). Throws StepFailure. */
export async function executeStep(
  step: WrittenStep,
  ctx: StepContext,
): Promise<{ attempts: number }> {
  const attempts = (step.retries ?? 0) + 1;
  for (let attempt = 1; ; attempt++) {
    try {
      await once(step, ctx);
      return { attempts: attempt };
    } catch (error) {
      if (
        ctx.signal.aborted ||
        attempt >= attempts ||
        (error instanceof StepFailure && error.timedOut)
      )
        throw error;
      ctx.onLines(
        [`attempt ${attempt} of ${attempts} failed: ${describeError(error)}; retrying`],
        "stderr",
      );
      await sleepOn(ctx.clock ?? systemClock, 500 * 2 ** (attempt - 1), ctx.signal);
    }
  }
}

async function once(step: WrittenStep, ctx: StepContext): Promise<void> {
  const kind = stepKindOf(step);
  if (!kind)
    throw new StepFailure(
      `step ${step.id} has no kind rollpoint knows; it was not run`,
      "UNKNOWN_KIND",
    );
  // Exhaustive: a kind added to STEP_KINDS without a case here does not compile, and a step of
  // an unknown kind is a failure, never a silent success.
  switch (kind) {
    case "run":
    case "shell":
      return runArgv(step.run ?? ["sh", "-ec", step.shell!], step, ctx);
    case "service": {
      const [verb, units] = Object.entries(step.service!)[0]!;
      return ctx.services.act(verb as ServiceVerb, units!);
    }
    case "sql":
      return runSql(step.sql!, ctx);
    case "check":
      return runCheck(step.check!, step.id, ctx);
    default: {
      const unknown: never = kind;
      throw new StepFailure(
        `step ${step.id} has no kind rollpoint knows (${String(unknown)})`,
        "UNKNOWN_KIND",
      );
    }
  }
}

async function runArgv(argv: string[], step: WrittenStep, ctx: StepContext): Promise<void> {
  const timeoutMs = step.timeout ? parseDuration(step.timeout) : undefined;
  const result = await runCommand(argv, {
    ...(step.cwd ? { cwd: step.cwd } : {}),
    ...(step.env ? { env: step.env } : {}),
    ...(timeoutMs ? { timeoutMs } : {}),
    signal: ctx.signal,
    jail: ctx.containment.enter(step.id),
    onLines: ctx.onLines,
  });
  if (result.timedOut)
    throw new StepFailure(`timed out after ${step.timeout}; its processes were killed`, "TIMEOUT");
  if (result.aborted)
    throw new StepFailure("interrupted; its processes were killed", "INTERRUPTED");
  if (result.exitCode !== 0) {
    throw new StepFailure(
      `${argv[0]} exited with ${result.exitCode ?? `signal ${result.signal}`}`,
      result.exitCode === null ? "SIGNAL" : "EXIT",
    );
  }
}

async function runSql(sql: { database: string; file: string }, ctx: StepContext): Promise<void> {
  const text = readFileSync(resolve(dirname(ctx.manifestFile), sql.file), "utf8");
  const db = ctx.databases.find((d) => d.name === sql.database)!;
  try {
    await databaseKind(db.type).runSql(db as DatabaseConfig, text, {
      signal: ctx.signal,
      hold: (work) => ctx.containment.hold(work),
    });
  } catch (error) {
    throw new StepFailure(
      `SQL ${sql.file} failed and was rolled back: ${describeError(error)}`,
      ctx.signal.aborted ? "INTERRUPTED" : "SQL",
    );
  }
}

async function runCheck(
  check: NonNullable<WrittenStep["check"]>,
  stepId: string,
  ctx: StepContext,
): Promise<void> {
  const within = parseDuration(check.within ?? DEFAULTS.checkWithin)!;
  const interval = parseDuration(check.interval ?? DEFAULTS.checkInterval)!;
  // Each probe runs to its end (within its own bound), so the failure reported is the probe's
  // real answer, never the kill of a timer shorter than the probe.
  const probeTimeout = parseDuration(check.probeTimeout ?? DEFAULTS.probeTimeout)!;
  const clock = ctx.clock ?? systemClock;
  const deadline = clock.now() + within;
  let last = "";
  for (;;) {
    try {
      await probe(check, stepId, ctx, probeTimeout);
      if (check.holdFor) return holdFor(check, stepId, ctx, probeTimeout, interval);
      return;
    } catch (error) {
      last = describeError(error);
    }
    if (ctx.signal.aborted) throw new StepFailure("interrupted", "INTERRUPTED");
    if (check.once) throw new StepFailure(`check failed (once, no retries): ${last}`, "CHECK");
    if (clock.now() + interval > deadline) break;
    await sleepOn(clock, interval, ctx.signal);
  }
  throw new StepFailure(
    `check did not pass within ${check.within ?? DEFAULTS.checkWithin}: ${last}`,
    "CHECK",
  );
}

/**
 * A settle window: after its first pass the check must keep passing for `holdFor`, probed every
 * `interval`; one failure in the window fails the step, with that probe's answer and when.
 */
async function holdFor(
  check: NonNullable<WrittenStep["check"]>,
  stepId: string,
  ctx: StepContext,
  probeTimeout: number,
  interval: number,
): Promise<void> {
  const clock = ctx.clock ?? systemClock;
  const started = clock.now();
  const until = started + parseDuration(check.holdFor!)!;
  while (clock.now() < until) {
    await sleepOn(clock, Math.min(interval, Math.max(0, until - clock.now())), ctx.signal);
    if (ctx.signal.aborted) throw new StepFailure("interrupted", "INTERRUPTED");
    try {
      await probe(check, stepId, ctx, probeTimeout);
    } catch (error) {
      throw new StepFailure(
        `check passed, then failed ${((clock.now() - started) / 1000).toFixed(1)}s into its ${check.holdFor} settle window: ${describeError(error)}`,
        "CHECK",
      );
    }
  }
}

async function probe(
  check: NonNullable<WrittenStep["check"]>,
  stepId: string,
  ctx: StepContext,
  timeoutMs: number,
): Promise<void> {
  if (check.http) {
    const response = await fetch(check.http, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    const wanted = check.status ?? 200;
    if (response.status !== wanted)
      throw new Error(`GET ${check.http} answered ${response.status}, expected ${wanted}`);
    return;
  }
  if (check.tcp) {
    const [host, port] = [
      // [::1]:5432: an IPv6 address is written in brackets, and connected to without them.
      check.tcp.slice(0, check.tcp.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1"),
      Number(check.tcp.slice(check.tcp.lastIndexOf(":") + 1)),
    ];
    await new Promise<void>((ok, fail) => {
      const socket = connect({ host, port, timeout: timeoutMs });
      socket.once("connect", () => {
        socket.destroy();
        ok();
      });
      socket.once("timeout", () => {
        socket.destroy();
        fail(new Error(`connect ${check.tcp}: timed out`));
      });
      socket.once("error", (e) => fail(new Error(`connect ${check.tcp}: ${e.message}`)));
    });
    return;
  }
  if (check.command) {
    const result = await runCommand(check.command, {
      timeoutMs,
      signal: ctx.signal,
      jail: ctx.containment.enter(`${stepId} (probe)`),
      onLines: ctx.onLines,
    });
    if (result.timedOut)
      throw new Error(
        `${check.command.join(" ")} did not finish within the probe's ${timeoutMs} ms (probeTimeout)`,
      );
    if (result.exitCode !== 0)
      throw new Error(`${check.command.join(" ")} exited with ${result.exitCode ?? result.signal}`);
    return;
  }
  const [state] = await ctx.services.states([check.service!]);
  if (state?.activeState !== "active") throw new Error(`${state?.unit} is ${state?.activeState}`);
}
