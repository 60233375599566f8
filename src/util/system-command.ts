import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

// The store's own fixed helpers (sync -f, mkfifo, mknod) run through node's execFile: no shell,
// and no 150 ms import of execa on the path of every backup. User steps go through execa.
export async function runSystemCommand(
  command: string,
  args: readonly string[],
  paths: ReadonlyArray<string | Buffer> = [],
): Promise<void> {
  try {
    await execWithPaths(command, args, paths);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new Error(`${command} ${args.join(" ")} failed${stderr ? `: ${stderr}` : ""}`, {
      cause: error,
    });
  }
}

const MAX_OUTPUT = 1024 * 2 ** 20;

/**
 * Run `command args... paths...` and give its output as bytes (paths in it may be names that are
 * not UTF-8). A process's arguments are text in Node, so when a path is given as bytes, every
 * path goes through `xargs -0` on stdin instead, which hands the bytes on exactly (and may split
 * a long list over several runs, which every caller here allows). Fails as execFile does; a
 * failed run's `stdout` is on the error, as a Buffer.
 */
export async function execWithPaths(
  command: string,
  args: readonly string[],
  paths: ReadonlyArray<string | Buffer>,
): Promise<{ stdout: Buffer }> {
  const options = { maxBuffer: MAX_OUTPUT, encoding: "buffer" as const };
  if (paths.every((p) => typeof p === "string"))
    return execFileAsync(command, [...args, ...(paths as string[])], options);
  return new Promise((resolve, reject) => {
    const child = execFile("xargs", ["-0", "-r", command, ...args], options, (error, stdout) =>
      error ? reject(error) : resolve({ stdout }),
    );
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(Buffer.concat(paths.flatMap((p) => [Buffer.from(p), Buffer.from([0])])));
  });
}
