import type { Command } from "commander";
import { GlobalRollbackError } from "../errors.js";

/** Add the repeatable `--var key=value` option (validate, plan, run, graph). */
export function withVarOption(command: Command): Command {
  return command.option(
    "--var <key=value>",
    "a value for ${vars.key} (repeatable)",
    (value: string, previous: string[]) => [...previous, value],
    [],
  );
}

/** `["root=/opt/app"]` → `{ root: "/opt/app" }`; a malformed one is invalid usage. */
export function parseVars(pairs: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = pair.slice(0, eq);
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `--var must be key=value with a key of letters, digits and _; got ${JSON.stringify(pair)}`,
      );
    }
    vars[key] = pair.slice(eq + 1);
  }
  return vars;
}
