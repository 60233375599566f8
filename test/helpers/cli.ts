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
