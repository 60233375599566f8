// The work behind `validate`'s commands, loaded when one of them runs (see validate.ts).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { GlobalRollbackError } from "../../errors.js";
import { formatDiagnostic, formatGithub } from "../../manifest/diagnostics.js";
import { type LoadResult, loadManifest } from "../../manifest/load.js";
import { emit, type GlobalOptions } from "../context.js";
import { ExitCode } from "../exit-codes.js";
import { parseVars } from "../vars.js";

// The work behind the `validate` commands, loaded only when one of them runs: registering the
// commands (validate.ts) must stay light, for `--help`, `--version` and every other command.

export async function validate(
  o: GlobalOptions,
  paths: string[],
  opts: { var: string[]; format: string },
): Promise<ExitCode> {
  if (opts.format !== "text" && opts.format !== "github") {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `--format must be text or github, got ${JSON.stringify(opts.format)}`,
    );
  }
  const vars = parseVars(opts.var);
  const files = paths.flatMap(manifestsIn);
  const results: LoadResult[] = [];
  for (const file of files)
    results.push(await loadManifest(file, { vars, mode: "validate", storeDir: o.store }));
  const ok = results.every((r) => r.errors.length === 0);
  emit(
    o,
    {
      ok,
      files: results.map((r) => ({
        file: r.file,
        ok: r.errors.length === 0,
        errors: r.errors,
        warnings: r.warnings,
      })),
    },
    () => {
      const format = opts.format === "github" ? formatGithub : formatDiagnostic;
      const lines = results.flatMap((r) => [...r.errors, ...r.warnings].map(format));
      const summary = results.map((r) =>
        r.errors.length
          ? `✗ ${r.file}: ${r.errors.length} error(s)`
          : `✓ ${r.file}${r.warnings.length ? ` (${r.warnings.length} warning(s))` : ""}`,
      );
      return [...lines, ...(opts.format === "github" ? [] : summary)].join("\n");
    },
  );
  return ok ? ExitCode.ok : ExitCode.invalid;
}

function manifestsIn(path: string): string[] {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    throw new GlobalRollbackError("INVALID_ARGUMENT", `no such manifest or directory: ${path}`, {
      context: { path },
    });
  }
  if (!stats.isDirectory()) return [path];
  // A repository also holds CI workflows, compose files and the like: in a directory, only YAML
  // files whose top level declares `apiVersion: rollpoint/...` are manifests. (A file named on
  // the command line is always checked.)
  const found = (readdirSync(path, { recursive: true }) as string[])
    .filter(
      (f) =>
        /\.ya?ml$/.test(f) &&
        !f.split("/").some((part) => part === "node_modules" || part.startsWith(".git")),
    )
    .sort()
    .map((f) => join(path, f))
    .filter(declaresRollpoint);
  if (found.length === 0) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `no rollpoint manifest (a YAML file with apiVersion: rollpoint/...) in ${path}`,
      { context: { path } },
    );
  }
  return found;
}

function declaresRollpoint(file: string): boolean {
  try {
    return /^apiVersion:\s*["']?rollpoint\//m.test(readFileSync(file, "utf8"));
  } catch {
    return false;
  }
}
