import { fstatSync } from "node:fs";
import type { Progress } from "../engine/run.js";
import { OUTCOME_STATES } from "../engine/types.js";
import type { Verbosity } from "./context.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * How a run shows its progress: on a terminal, a line per step with a spinner, the elapsed time
 * and ✓/✗ (colours unless NO_COLOR is set; no control codes at all where TERM=dumb), the step's
 * output under it; under journald (JOURNAL_STREAM names our stdout), plain lines with the
 * journal's own `<N>` priority prefixes and no timestamps of our own; otherwise plain timestamped
 * lines, fit for cron mail and CI logs. `quiet`: nothing (the outcome is printed after);
 * `verbose`: every state, the steps' own included.
 */
export function progressPrinter(
  verbosity: Verbosity,
  out: NodeJS.WriteStream = process.stdout,
): ((p: Progress) => void) | undefined {
  if (verbosity === "quiet") return undefined;
  const verbose = verbosity === "verbose";
  switch (outputStyle(out)) {
    case "terminal":
      return terminal(out, verbose);
    case "journal":
      return lines(out, verbose, (level) => `<${level}>`);
    case "plain":
      return lines(out, verbose, () => `${new Date().toISOString()} `);
  }
}

/** Where the output goes, as far as its form is concerned. */
export function outputStyle(
  out: NodeJS.WriteStream,
  env: NodeJS.ProcessEnv = process.env,
): "terminal" | "journal" | "plain" {
  if (env.JOURNAL_STREAM && onJournal(out, env.JOURNAL_STREAM)) return "journal";
  if (out.isTTY && env.TERM !== "dumb") return "terminal";
  return "plain";
}

// systemd sets JOURNAL_STREAM=<device>:<inode> of the stream it connected; a child whose stdout
// was redirected elsewhere inherits the variable but not the stream.
function onJournal(out: NodeJS.WriteStream, stream: string): boolean {
  try {
    const { dev, ino } = fstatSync((out as unknown as { fd: number }).fd);
    return stream === `${dev}:${ino}`;
  } catch {
    return false;
  }
}

// syslog levels, as journald reads them from a `<N>` line prefix.
const ERR = 3;
const WARNING = 4;
const INFO = 6;

function lines(
  out: NodeJS.WriteStream,
  verbose: boolean,
  prefix: (level: number) => string,
): (p: Progress) => void {
  return (p) => {
    switch (p.type) {
      case "state": {
        if (p.state.startsWith("step.") && !verbose) return;
        const level =
          p.state === "rollbackFailed" ? ERR : p.state.startsWith("rollingBack") ? WARNING : INFO;
        out.write(`${prefix(level)}${p.state}\n`);
        return;
      }
      case "step-start":
        out.write(`${prefix(INFO)}step ${p.stepId} …\n`);
        return;
      case "step-lines": {
        const head = `${prefix(INFO)}  ${p.stepId} | `;
        out.write(`${head}${p.lines.join(`\n${head}`)}\n`);
        return;
      }
      case "step-end":
        out.write(
          `${prefix(p.step.status === "succeeded" ? INFO : ERR)}${mark(p.step.status, false)} ${p.step.id} (${seconds(p.step.durationMs)})${p.step.error ? `: ${p.step.error}` : ""}\n`,
        );
    }
  };
}

function terminal(out: NodeJS.WriteStream, verbose: boolean): (p: Progress) => void {
  const color = !process.env.NO_COLOR;
  // What is under way: a step, or a state that takes time of its own (the rollback point, each
  // restore of the rollback), with a spinner and its elapsed time.
  let current: { id: string; started: number; timer: NodeJS.Timeout; frame: number } | undefined;
  const draw = () => {
    if (!current) return;
    const frame = FRAMES[current.frame++ % FRAMES.length];
    out.write(`\r\x1b[2K${frame} ${current.id}  ${seconds(Date.now() - current.started)}`);
  };
  const clear = () => out.write("\r\x1b[2K");
  const start = (id: string) => {
    stop();
    current = { id, started: Date.now(), timer: setInterval(draw, 100), frame: 0 };
    current.timer.unref();
    draw();
  };
  const stop = () => {
    if (!current) return;
    clearInterval(current.timer);
    current = undefined;
    clear();
  };
  return (p) => {
    switch (p.type) {
      case "state":
        if (p.state.startsWith("step.") && !verbose) return;
        stop();
        out.write(`${paint(color, "2", `▸ ${p.state}`)}\n`);
        // The outcome is final: the summary follows, without a spinner over it.
        if (!p.state.startsWith("step.") && !OUTCOME_STATES.has(p.state)) start(p.state);
        return;
      case "step-start":
        start(p.stepId);
        return;
      case "step-lines": {
        clear();
        const bar = `${paint(color, "2", "  │")} `;
        out.write(`${bar}${p.lines.join(`\n${bar}`)}\n`);
        draw();
        return;
      }
      case "step-end":
        stop();
        out.write(
          `${mark(p.step.status, color)} ${p.step.id}  ${seconds(p.step.durationMs)}${p.step.error ? `  ${p.step.error}` : ""}\n`,
        );
    }
  };
}

function mark(status: string, color: boolean): string {
  if (status === "succeeded") return paint(color, "32", "✓");
  return paint(color, "31", "✗");
}

function paint(color: boolean, code: string, text: string): string {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function seconds(ms = 0): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
