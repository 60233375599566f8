import { GlobalRollbackError } from "../errors.js";
import type { GlobalRollback } from "../library/global-rollback.js";
import { defaultStoreDir } from "../store/location.js";

/** Options every command accepts, resolved once. */
export interface GlobalOptions {
  store: string;
  json: boolean;
  /** -q: only the outcome and errors; -v: every state and, on an unexpected error, its stack. */
  verbosity: Verbosity;
}

export type Verbosity = "quiet" | "normal" | "verbose";

export function resolveGlobalOptions(raw: {
  store?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}): GlobalOptions {
  if (raw.quiet && raw.verbose) {
    throw new GlobalRollbackError("INVALID_ARGUMENT", "-q and -v cannot be given together");
  }
  return {
    store: raw.store ?? defaultStoreDir(),
    json: raw.json === true,
    verbosity: raw.quiet ? "quiet" : raw.verbose ? "verbose" : "normal",
  };
}

/**
 * The library on the command's store; `existing` for commands that must not create one. Loaded
 * when a command needs it, so that `--help`, `--version` and `validate` start without it.
 */
export async function openLibrary(
  options: GlobalOptions,
  command: string,
  existing = false,
): Promise<GlobalRollback> {
  const { GlobalRollback } = await import("../library/global-rollback.js");
  return new GlobalRollback({
    backupDir: options.store,
    command: `rollpoint ${command}`,
    mustExist: existing,
  });
}

/** Print the command's result: one JSON document with --json, else the human text. */
export function emit(options: GlobalOptions, data: unknown, text: () => string): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(data, jsonReplacer, 2)}\n`);
  } else {
    const out = text();
    if (out) process.stdout.write(out.endsWith("\n") ? out : `${out}\n`);
  }
}

export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
