import type { Progress } from "../engine/run.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * How a run shows its progress: on a terminal, a line per step with a spinner, the elapsed time
 * and ✓/✗ (colours unless NO_COLOR is set), the step's output under it; otherwise plain
 * timestamped lines, fit for journald, cron mail and CI logs.
 */
export function progressPrinter(out: NodeJS.WriteStream = process.stdout): (p: Progress) => void {
  return out.isTTY ? terminal(out) : plain(out);
}

function plain(out: NodeJS.WriteStream): (p: Progress) => void {
  const stamp = () => new Date().toISOString();
  return (p) => {
    switch (p.type) {
      case "state":
        if (!p.state.startsWith("step.")) out.write(`${stamp()} ${p.state}\n`);
        return;
      case "step-start":
        out.write(`${stamp()} step ${p.stepId} …\n`);
        return;
      case "step-lines": {
        const prefix = `${stamp()}   ${p.stepId} | `;
        out.write(`${prefix}${p.lines.join(`\n${prefix}`)}\n`);
        return;
      }
      case "step-end":
        out.write(
          `${stamp()} ${mark(p.step.status, false)} ${p.step.id} (${seconds(p.step.durationMs)})${p.step.error ? `: ${p.step.error}` : ""}\n`,
        );
    }
  };
}

function terminal(out: NodeJS.WriteStream): (p: Progress) => void {
  const color = !process.env.NO_COLOR;
  let current: { id: string; started: number; timer: NodeJS.Timeout; frame: number } | undefined;
  const draw = () => {
    if (!current) return;
    const frame = FRAMES[current.frame++ % FRAMES.length];
    out.write(`\r\x1b[2K${frame} ${current.id}  ${seconds(Date.now() - current.started)}`);
  };
  const clear = () => out.write("\r\x1b[2K");
  return (p) => {
    switch (p.type) {
      case "state":
        if (!p.state.startsWith("step.")) out.write(`${paint(color, "2", `▸ ${p.state}`)}\n`);
        return;
      case "step-start":
        current = { id: p.stepId, started: Date.now(), timer: setInterval(draw, 100), frame: 0 };
        current.timer.unref();
        draw();
        return;
      case "step-lines": {
        clear();
        const bar = `${paint(color, "2", "  │")} `;
        out.write(`${bar}${p.lines.join(`\n${bar}`)}\n`);
        draw();
        return;
      }
      case "step-end":
        if (current) clearInterval(current.timer);
        current = undefined;
        clear();
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
