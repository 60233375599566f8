import { loadExeca } from "../util/lazy.js";

export interface CommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  signal: AbortSignal;
  /** Each line of output, as it comes (stdout and stderr). */
  onLine: (line: string, stream: "stdout" | "stderr") => void;
}

export interface CommandResult {
  exitCode: number | undefined;
  timedOut: boolean;
  aborted: boolean;
  signal?: string;
}

/**
 * Run argv as its own process group, so that on a timeout, an abort (SIGINT/SIGTERM of the
 * runner) or a failure elsewhere the whole tree it started is killed: nothing of the update may
 * keep writing while restores run. Never through a shell unless argv is one.
 */
export async function runCommand(
  argv: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  const [file, ...args] = argv;
  const execa = await loadExeca();
  const child = execa(file!, args, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: options.env ?? {},
    reject: false,
    detached: true,
    stdin: "ignore",
    buffer: false,
    cleanup: true,
  });
  let timedOut = false;
  let aborted = false;
  const killTree = () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        killTree();
      }, options.timeoutMs)
    : undefined;
  const onAbort = () => {
    aborted = true;
    killTree();
  };
  options.signal.addEventListener("abort", onAbort, { once: true });
  if (options.signal.aborted) onAbort();
  for (const [stream, name] of [
    [child.stdout, "stdout"],
    [child.stderr, "stderr"],
  ] as const) {
    let rest = "";
    stream?.on("data", (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) options.onLine(line, name);
    });
    stream?.on("end", () => {
      if (rest) options.onLine(rest, name);
    });
  }
  try {
    const result = await child;
    // The leader is gone; make sure nothing it left behind in its group lives on.
    killTree();
    return {
      exitCode: result.exitCode,
      timedOut,
      aborted,
      ...(result.signal ? { signal: result.signal } : {}),
    };
  } finally {
    if (timer) clearTimeout(timer);
    options.signal.removeEventListener("abort", onAbort);
  }
}
