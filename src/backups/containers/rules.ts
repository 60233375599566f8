// The containers kind's rules of validation: what the schema cannot say of rollbackPoint.containers.

import { error, type Finding, pathProblem, type RuleContext } from "../../manifest/findings.js";
import type { DocPath } from "../../manifest/source.js";
import type { WrittenContainer } from "../../manifest/types.js";

// A container member is a compose project or a list of containers, never both or neither; a
// compose file is a path like any protected one; names are unique (they name restore states).
export function containerRules(entries: readonly WrittenContainer[], ctx: RuleContext): Finding[] {
  const seen = new Set<string>();
  return entries.flatMap((c, i) => {
    const at: DocPath = [i];
    const found: Finding[] = [];
    if (seen.has(c.name))
      found.push(
        error([...at, "name"], `duplicate container member name ${JSON.stringify(c.name)}`),
      );
    seen.add(c.name);
    if ((c.compose === undefined) === (c.containers === undefined))
      found.push(
        error(
          at,
          `give compose (a compose project's file) or containers (names), ${c.compose === undefined ? "not neither" : "not both"}`,
        ),
      );
    if (c.compose !== undefined) {
      const problem = pathProblem(c.compose, ctx.storeDir);
      if (problem)
        found.push(error([...at, "compose"], `${problem}; found ${JSON.stringify(c.compose)}`));
    }
    if (c.project !== undefined && c.compose === undefined)
      found.push(
        error([...at, "project"], "applies to a compose project only (with compose)", true),
      );
    return found;
  });
}
