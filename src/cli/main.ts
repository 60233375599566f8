#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { describeError, errnoName, GlobalRollbackError } from "../errors.js";
import { claimProcess } from "../util/owned-process.js";
import { registerBackups } from "./commands/backups/index.js";
import { registerCompletion } from "./commands/completion.js";
import { registerHistory } from "./commands/history.js";
import { registerInit } from "./commands/init.js";
import { registerPlan } from "./commands/plan.js";
import { registerRun } from "./commands/run.js";
import { registerStatus } from "./commands/status.js";
import { registerValidate } from "./commands/validate.js";
import { registerWatch } from "./commands/watch.js";
import { EXIT_CODE_OF, ExitCode } from "./exit-codes.js";
import { boundHeapGrowth, keepArenaCapToThisProcess } from "./heap.js";
import { ignoreBrokenOutput } from "./output.js";
import { loadOnDemandModules } from "./preload.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

// The error boundary: the library throws typed errors and never exits; here each becomes a
// one-line message on stderr and the exit code of the documented table (docs/errors.md). No stack traces for users.
async function guarded(fn: () => Promise<ExitCode>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (error) {
    process.exitCode = report(error);
  }
}

function report(thrown: unknown): ExitCode {
  const error = damagedCatalog(thrown) ?? thrown;
  if (error instanceof GlobalRollbackError) {
    process.stderr.write(`rollpoint: ${error.message}\n`);
    const exitCode = EXIT_CODE_OF[error.code];
    jsonFailure({ code: error.code, message: error.message, ...error.context }, exitCode);
    return exitCode;
  }
  const system = systemError(error);
  if (system) {
    // The disk or the kernel said no (EIO, ENOSPC, EDQUOT...) where no member names it: not a
    // bug to debug, but the command stopped there, and only exit 2 claims nothing about the host.
    const message = `the system refused ${system.syscall}${system.path ? ` on ${system.path}` : ""}: ${system.code} (${describeError(error)}); the command stopped there. Check the disk, then \`rollpoint status\` and \`rollpoint backups verify\``;
    process.stderr.write(`rollpoint: ${message}\n`);
    jsonFailure({ code: "SYSTEM_ERROR", errno: system.code, message }, ExitCode.needsIntervention);
    return ExitCode.needsIntervention;
  }
  process.stderr.write(`rollpoint: unexpected error: ${describeError(error)}\n`);
  if (process.env.ROLLPOINT_DEBUG || hasFlag("-v", "--verbose"))
    process.stderr.write(`${(error as Error).stack ?? ""}\n`);
  else process.stderr.write("rollpoint: run again with -v (or ROLLPOINT_DEBUG=1) for details\n");
  jsonFailure({ code: "UNEXPECTED", message: describeError(error) }, ExitCode.needsIntervention);
  return ExitCode.needsIntervention;
}

/** A system call's failure as Node reports it (`code` EIO..., `syscall`, maybe `path`). */
function systemError(error: unknown): { code: string; syscall: string; path?: string } | undefined {
  const e = error as { code?: unknown; syscall?: unknown; path?: unknown } | null;
  // SQLite's word for the same, about the catalog (a database member's names its database).
  if (typeof e?.code === "string" && /^SQLITE_(IOERR|FULL)/.test(e.code))
    return { code: e.code, syscall: "a read or write of the store's catalog" };
  // SQLite opens a database read-only when it cannot open it for writing (a full disk, a
  // read-only mount, an immutable file), and says so only at the first write.
  if (typeof e?.code === "string" && /^SQLITE_READONLY/.test(e.code))
    return {
      code: e.code,
      syscall: "a write of the store's catalog, which could be opened read-only only",
    };
  const code = errnoName(error);
  if (typeof e?.syscall !== "string" || code === undefined) return undefined;
  return { code, syscall: e.syscall, ...(typeof e.path === "string" ? { path: e.path } : {}) };
}

/**
 * SQLite's own word that a file is damaged (a corrupt page, not a database at all) is about the
 * store, not a bug: a store error, with what to do. It can only be the catalog or the lock file:
 * SQLite databases being backed up are read through their own kind, which names them.
 */
function damagedCatalog(error: unknown): GlobalRollbackError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !/^SQLITE_(CORRUPT|NOTADB)/.test(code)) return undefined;
  return new GlobalRollbackError(
    "STORE_ERROR",
    `the store's catalog is damaged (${code}: ${describeError(error)}): rollpoint stopped. Copy the store aside before anything else, then check it with \`sqlite3 catalog.db 'PRAGMA integrity_check'\` and recover it with \`sqlite3 catalog.db .recover\`, or put back a copy of the store`,
    { cause: error },
  );
}

/**
 * Under --json a failing command still prints one JSON document on stdout, so that a script
 * (an Ansible task) always has something to parse: `{"error": {...}, "exitCode": N}`.
 */
function jsonFailure(error: Record<string, unknown>, exitCode: ExitCode): void {
  if (!wantsJson()) return;
  process.stdout.write(`${JSON.stringify({ error, exitCode }, null, 2)}\n`);
}

// --json and -v are global options and may come anywhere; a usage error can happen before
// commander has parsed them, so the argv is read directly.
function wantsJson(): boolean {
  return hasFlag("--json");
}

function hasFlag(...names: string[]): boolean {
  const args = process.argv.slice(2);
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((a) => names.includes(a));
}

/** Commands (and `backups`/`watch` subcommands) that may change the host or the store. */
const CHANGES_THINGS = new Set([
  "run",
  "rollback",
  "recover",
  "create",
  "restore",
  "prune",
  "stop",
]);

export function buildProgram(): Command {
  const program = new Command("rollpoint")
    .description(
      "transactional updates for self-hosted servers: rollback points, automatic rollback",
    )
    .version(version(), "--version")
    .option(
      "--store <dir>",
      "the store directory (default: $ROLLPOINT_STORE, else /var/backups/rollpoint as root, $XDG_STATE_HOME/rollpoint or ~/.local/state/rollpoint for others)",
    )
    .option("--json", "print one JSON document on stdout")
    .option("-q, --quiet", "print only the outcome and errors, no progress")
    .option("-v, --verbose", "print every state of a run, and an unexpected error's stack")
    // Every subcommand's --help lists these too: they are accepted anywhere.
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError()
    .exitOverride();
  registerValidate(program, guarded);
  registerPlan(program, guarded);
  registerRun(program, guarded);
  registerHistory(program, guarded);
  registerStatus(program, guarded);
  registerWatch(program, guarded);
  registerBackups(program, guarded);
  registerInit(program, guarded);
  registerCompletion(program, guarded);
  for (const command of program.commands) command.exitOverride();
  // Before a command that changes anything, everything it may load on demand (preload.ts).
  program.hook("preAction", async (_program, action) => {
    if (CHANGES_THINGS.has(action.name())) await loadOnDemandModules();
  });
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version "fail" with exit code 0; every other usage error is invalid usage.
      process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.invalid;
      if (error.exitCode !== 0)
        jsonFailure({ code: "INVALID_ARGUMENT", message: error.message }, ExitCode.invalid);
      return;
    }
    process.exitCode = report(error);
  }
}

ignoreBrokenOutput();
claimProcess();
boundHeapGrowth();
keepArenaCapToThisProcess();
await main(process.argv);
