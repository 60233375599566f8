// `run` (an argv) and `shell` (a script for sh -e): one process tree, contained, with a timeout.

import type { WrittenStep } from "../../manifest/types.js";
import { runCommand } from "../../processes/process.js";
import { parseDuration } from "../../util/duration.js";
import { type StepContext, StepFailure, type StepKindModule } from "../step-kind.js";

export const runStep: StepKindModule = {
  summary: (step) => step.run!.map(quoteWord).join(" "),
  execute: (step, ctx) => runArgv(step.run!, step, ctx),
};

export const shellStep: StepKindModule = {
  summary(step) {
    const lines = step.shell!.trim().split("\n");
    return `sh -e: ${lines[0]}${lines.length > 1 ? ` (+${lines.length - 1} lines)` : ""}`;
  },
  execute: (step, ctx) => runArgv(["sh", "-ec", step.shell!], step, ctx),
};

/** Run argv as the step's one process tree, failing the step as its exit says. */
export async function runArgv(argv: string[], step: WrittenStep, ctx: StepContext): Promise<void> {
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

/** A word as a shell would need it written, for a one-line summary. */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
