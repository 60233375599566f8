import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { execa, type Options } from "execa";

export const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run the built `rollpoint` as a user would, never throwing on a non-zero exit. */
export async function rollpoint(args: string[], options: Options = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [CLI, ...args], { reject: false, ...options });
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  };
}

/** `rollpoint backups create PATH --module MODULE` as a user would type it, whatever it exits. */
export function backupsCreate(store: string, path: string, module = "app"): Promise<CliResult> {
  return rollpoint(["--store", store, "--json", "backups", "create", path, "--module", module]);
}

/** The same, for a test that needs the backup: fails unless it exits 0, returns its id. */
export async function createBackup(store: string, path: string, module = "app"): Promise<string> {
  const created = await backupsCreate(store, path, module);
  if (created.exitCode !== 0) throw new Error(`backups create ${path}: ${created.stderr}`);
  return (JSON.parse(created.stdout) as { backup: { backupId: string } }).backup.backupId;
}

/**
 * The built CLI as a child whose stdout a test controls: `closeStdout` destroys the reading end
 * at once (a `| head` that went away). Resolves with the exit code and everything read.
 */
export async function runWithStdout(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; closeStdout?: boolean } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  if (options.closeStdout) child.stdout.destroy();
  else child.stdout.on("data", (c: Buffer) => (out.stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out.stderr += c.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { exitCode: exitCode ?? -1, ...out };
}
