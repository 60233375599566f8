// The databases kind's rules of validation: what the schema cannot say of rollbackPoint.databases.

import { error, type Finding, warning } from "../../manifest/findings.js";
import type { DocPath } from "../../manifest/source.js";
import type { WrittenDatabase } from "../../manifest/types.js";

/** The database keys that only some kinds take (the others take them all or none). */
const KEYS_OF_KINDS: Record<string, string[]> = {
  host: ["postgresql", "mariadb"],
  port: ["postgresql", "mariadb"],
  user: ["postgresql", "mariadb"],
  passwordEnv: ["postgresql", "mariadb"],
  password: ["postgresql", "mariadb"],
  strategy: ["postgresql"],
  socket: ["mariadb"],
};

/** Beyond the schema: unique names, each kind's own keys only, passwords. */
export function databaseRules(entries: readonly WrittenDatabase[]): Finding[] {
  const seen = new Set<string>();
  return entries.flatMap((d, i) => {
    const at: DocPath = [i];
    const found: Finding[] = [];
    if (seen.has(d.name))
      found.push(error([...at, "name"], `duplicate database name ${JSON.stringify(d.name)}`));
    seen.add(d.name);
    for (const [key, kinds] of Object.entries(KEYS_OF_KINDS)) {
      const type = d.type === "mysql" ? "mariadb" : d.type;
      if (d[key as keyof typeof d] !== undefined && !kinds.includes(type))
        found.push(
          error(
            [...at, key],
            `applies to ${kinds.join(" and ")} only; this database is ${d.type}`,
            true,
          ),
        );
    }
    if (d.password !== undefined) {
      found.push(
        warning(
          [...at, "password"],
          "an inline password ends up in version control and backups of this file; prefer passwordEnv (or ~/.pgpass, ~/.my.cnf)",
          "INLINE_PASSWORD",
        ),
      );
    }
    if (d.password !== undefined && d.passwordEnv !== undefined) {
      found.push(error([...at, "password"], "give password or passwordEnv, not both", true));
    }
    return found;
  });
}
