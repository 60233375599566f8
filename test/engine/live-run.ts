import { spawn } from "node:child_process";
import { CLI } from "../helpers/cli.js";

/** `rollpoint run` as a live child process whose output a test can wait on and signal. */
export function liveRun(store: string, manifest: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, "--store", store, "run", manifest], { env });
  const output = { stdout: "", stderr: "" };
  const waiters: Array<() => void> = [];
  const collect = (name: "stdout" | "stderr") => (chunk: Buffer) => {
    output[name] += chunk.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on("data", collect("stdout"));
  child.stderr.on("data", collect("stderr"));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return {
    child,
    output,
    exited,
    /** Resolve once stdout contains `text`. */
    async until(text: string): Promise<void> {
      while (!output.stdout.includes(text)) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}
