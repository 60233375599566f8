import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

// The store's own fixed helpers (sync -f, mkfifo, mknod) run through node's execFile: no shell,
// and no 150 ms import of execa on the path of every backup. User steps go through execa.
export async function runSystemCommand(command: string, args: readonly string[]): Promise<void> {
  try {
    await execFileAsync(command, [...args]);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new Error(`${command} ${args.join(" ")} failed${stderr ? `: ${stderr}` : ""}`, {
      cause: error,
    });
  }
}
