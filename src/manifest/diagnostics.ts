import type { LocatedProblem } from "../errors.js";

/** What a rule of rules.ts finds, one code per rule (docs/manifest.md lists them). */
export type RuleCode =
  | "DUPLICATE_STEP_ID"
  | "STEP_KIND"
  | "CHECK_PROBE"
  | "DURATION_RANGE"
  | "SQL_DATABASE"
  | "PROTECTED_PATH"
  | "DATABASE_CONFIG"
  | "CONTAINER_CONFIG"
  | "INLINE_PASSWORD"
  | "PACKAGE_MANAGER"
  | "CHECK_AFTER_RELOAD"
  | "FINALLY";

/** Every code a diagnostic can carry: stable across wordings, for scripts to match on. */
export type DiagnosticCode =
  | "UNREADABLE"
  | "TOO_DEEP"
  | "YAML_SYNTAX"
  | "YAML_ALIAS"
  | `SCHEMA_${string}`
  | "UNDEFINED_VAR"
  | "UNSET_ENV"
  | RuleCode;

/**
 * One finding about a manifest, with where it is. `code` is stable across wordings:
 * `SCHEMA_<keyword>` (SCHEMA_TYPE, SCHEMA_PATTERN...), a rule's code (DUPLICATE_STEP_ID,
 * PROTECTED_PATH...), or YAML_SYNTAX, YAML_ALIAS, TOO_DEEP, UNREADABLE, UNDEFINED_VAR,
 * UNSET_ENV; docs/manifest.md lists them.
 */
export interface Diagnostic extends LocatedProblem {
  severity: "error" | "warning";
  code: DiagnosticCode;
  /** For YAML_SYNTAX: the YAML parser's own code (DUPLICATE_KEY, BAD_INDENT, ...). */
  yamlCode?: string;
}

/** `file:line:col: path: message`, the one template every diagnostic follows. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.path ? `${d.path}: ` : "";
  const tag = d.severity === "warning" ? "warning: " : "";
  return `${d.file}:${d.line}:${d.col}: ${tag}${where}${d.message}`;
}

/** A GitHub Actions workflow command, so CI shows the finding on the line it is about. */
export function formatGithub(d: Diagnostic): string {
  const encode = (s: string) => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  const where = d.path ? `${d.path}: ` : "";
  return `::${d.severity} file=${d.file},line=${d.line},col=${d.col}::${encode(where + d.message)}`;
}

/** `["steps", 2, "run"]` → `steps[2].run`. */
export function pathText(path: ReadonlyArray<string | number>): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** A value as a message shows it: short, and with its type obvious. */
export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The known name nearest to `name`, if it is near enough to be a typo. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}
