import { loadExeca } from "../util/lazy.js";
import type { Jail } from "./containment.js";
import { LineSplitter } from "./lines.js";

export interface CommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  signal: AbortSignal;
  /** Where the command's processes are kept, and killed from (see containment.ts). */
  jail: Jail;
  /** What the command reads on stdin (nothing when absent). */
  input?: string;
  /** The command's output, a batch of whole lines at a time (stdout and stderr apart). */
  onLines: (lines: string[], stream: "stdout" | "stderr") => void;
}

export interface CommandResult {
  exitCode: number | undefined;
  timedOut: boolean;
  aborted: boolean;
  signal?: string;
}

/**
 * Run argv in its jail: its own process group (and cgroup where the host allows), so that when it
 * exits, times out or is aborted (a signal to the runner, the run's timeout) everything it started
 * is killed, and only then does this resolve: nothing of the update may keep writing while
 * restores run. Never through a shell unless argv is one.
 */
export async function runCommand(
  argv: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  const { jail } = options;
  const [file, ...args] = jail.wrap(argv);
  const execa = await loadExeca();
  let timedOut = false;
  let aborted = false;
  const child = execa(file!, args, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { ...options.env, ...jail.env },
    reject: false,
    detached: true,
    ...(options.input !== undefined ? { input: options.input } : { stdin: "ignore" as const }),
    buffer: false,
    cleanup: false,
  });
  if (child.pid !== undefined) jail.spawned(child.pid);
  // When the leader exits, what it left in the background is killed at once: it may hold the
  // output pipes open, and the step is over.
  child.once("exit", () => void jail.release().catch(() => undefined));
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        void jail.release().catch(() => undefined);
      }, options.timeoutMs)
    : undefined;
  const onAbort = () => {
    aborted = true;
    void jail.release().catch(() => undefined);
  };
  options.signal.addEventListener("abort", onAbort, { once: true });
  if (options.signal.aborted) onAbort();
  for (const [stream, name] of [
    [child.stdout, "stdout"],
    [child.stderr, "stderr"],
  ] as const) {
    const splitter = new LineSplitter();
    const deliver = (lines: string[]) => {
      if (lines.length) options.onLines(lines, name);
    };
    stream?.on("data", (chunk: Buffer) => deliver(splitter.push(chunk)));
    stream?.on("end", () => deliver(splitter.end()));
  }
  try {
    const result = await child;
    return {
      exitCode: result.exitCode,
      timedOut,
      aborted,
      ...(result.signal ? { signal: result.signal } : {}),
    };
  } finally {
    if (timer) clearTimeout(timer);
    options.signal.removeEventListener("abort", onAbort);
    // The leader is gone; whatever it left behind goes too, before the step counts as ended.
    await jail.release();
  }
}
