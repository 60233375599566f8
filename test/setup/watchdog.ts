import { spawn } from "node:child_process";

/**
 * Run `command` (a shell command) when this process is gone, however it went: a test run killed
 * with SIGKILL runs no teardown, and must not leave servers or containers behind. Returns a
 * function that disarms it (the teardown did the work).
 */
export function whenGone(command: string): () => void {
  const watchdog = spawn(
    "/bin/sh",
    ["-c", `while kill -0 "$0" 2>/dev/null; do sleep 1; done; ${command}`, String(process.pid)],
    { stdio: "ignore", detached: true },
  );
  watchdog.unref();
  return () => watchdog.kill("SIGKILL");
}
