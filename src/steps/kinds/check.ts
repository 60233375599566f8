// `check`: a probe (http, tcp, command, service) until it passes within `within`, then held
// for `holdFor`; on the run's clock.

import { connect } from "node:net";
import { describeError } from "../../errors.js";
import { DEFAULTS } from "../../manifest/defaults.js";
import type { WrittenStep } from "../../manifest/types.js";
import { runCommand } from "../../processes/process.js";
import { sleepOn, systemClock } from "../../util/clock.js";
import { parseDuration } from "../../util/duration.js";
import { type StepContext, StepFailure, type StepKindModule } from "../step-kind.js";
import { quoteWord } from "./command.js";

export const checkStep: StepKindModule = {
  summary(step) {
    const c = step.check!;
    const probe = c.http
      ? `GET ${c.http} → ${c.status ?? 200}`
      : c.tcp
        ? `connect ${c.tcp}`
        : c.command
          ? c.command.map(quoteWord).join(" ")
          : `${c.service} is active`;
    const probeBound = `each probe up to ${c.probeTimeout ?? DEFAULTS.probeTimeout}`;
    return c.once
      ? `check ${probe}, once (${probeBound})`
      : `check ${probe}, every ${c.interval ?? DEFAULTS.checkInterval} within ${c.within ?? DEFAULTS.checkWithin}${c.holdFor ? `, then holding for ${c.holdFor}` : ""} (${probeBound})`;
  },
  execute: (step, ctx) => runCheck(step.check!, step.id, ctx),
};

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
    // What answered goes to the run's log, pass or fail: a probe answered by an old worker
    // must be visible afterwards (its status and the start of its body).
    const body = await bodyExcerpt(response);
    const answered = `GET ${check.http} answered ${response.status}${body ? `: ${body}` : ""}`;
    if (response.status !== wanted) throw new Error(`${answered}, expected ${wanted}`);
    ctx.onLines([`probe: ${answered}`], "stdout");
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
    ctx.onLines([`probe: connect ${check.tcp}: accepted`], "stdout");
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
  ctx.onLines([`probe: ${state.unit} is active`], "stdout");
}

/**
 * The first 200 characters of a body, on one line: at most 4 KiB is read, then the rest is
 * cancelled (a health page of megabytes is not read at every probe). One that cannot be read
 * says so.
 */
async function bodyExcerpt(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (size < 4096) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
    const text = Buffer.concat(chunks)
      .subarray(0, 4096)
      .toString("utf8")
      .replace(/\s+/g, " ")
      .trim();
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return "(body unreadable)";
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
