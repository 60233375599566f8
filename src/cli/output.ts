import { writeSync } from "node:fs";
import { ExitCode } from "./exit-codes.js";
/**
 * Output can never stop a run. A closed or broken stdout/stderr (`rollpoint run … | head -1`, an
 * ssh session that dropped) makes the next write fail with EPIPE or EIO, which Node reports as an
 * 'error' event; unhandled, it would kill the runner mid-update. From the first such error on, the
 * stream is left alone: the run goes on, rolls back if it must and records its real outcome; the
 * run's log in the store keeps everything the terminal missed.
 */
export function ignoreBrokenOutput(): void {
  for (const name of ["stdout", "stderr"] as const) {
    let stream: NodeJS.WriteStream;
    try {
      // Node makes the stream on first use; on a failing descriptor (EIO) that throws.
      stream = process[name];
    } catch (error) {
      writeSync2(`rollpoint: cannot use ${name}: ${(error as Error).message}; nothing was done\n`);
      process.exit(ExitCode.notStarted);
    }
    stream.on("error", () => {
      // Nothing to do: no one is reading any more. The exit code still tells the truth.
    });
  }
}

function writeSync2(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // No stderr either: the exit code says it.
  }
}
