import { readFile } from "node:fs/promises";
import { resolveManifest } from "./defaults.js";
import type { Diagnostic, DiagnosticCode } from "./diagnostics.js";
import { pathText } from "./diagnostics.js";
import { interpolateDeep, REFERENCE } from "./interpolate.js";
import { RULES } from "./rules.js";
import { schemaDiagnostics } from "./schema.js";
import { type DocPath, MAX_NESTING, ManifestSource, tooDeep } from "./source.js";
import type { WrittenManifest, WrittenStep } from "./types.js";

export interface LoadOptions {
  /** `--var` values; they override the manifest's `vars`. */
  vars?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** At `validate`, an unset `${env.X}` is a warning (CI has not the host's environment); at `run`, an error. */
  mode: "validate" | "run";
  /** The store in use: no protected path may be inside it. */
  storeDir: string;
}

/** A manifest, checked: `manifest` is set (interpolated) when there are no errors. */
export interface LoadResult {
  file: string;
  manifest?: WrittenManifest;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/**
 * Load a manifest in four stages that collect rather than throw: parse YAML with positions,
 * check the JSON Schema, interpolate `${vars.X}` and `${env.X}`, then the semantic rules. Every
 * finding of a stage is reported; a stage runs only if the one before found no error.
 */
export async function loadManifest(file: string, options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { file, errors: [], warnings: [] };
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    result.errors.push({
      severity: "error",
      code: "UNREADABLE",
      file,
      line: 1,
      col: 1,
      path: "",
      message: `cannot read the manifest: ${(error as Error).message}`,
    });
    return result;
  }
  const deep = tooDeep(text);
  if (deep) {
    result.errors.push({
      severity: "error",
      code: "TOO_DEEP",
      file,
      ...deep,
      path: "",
      message: `nested deeper than ${MAX_NESTING} levels; a manifest needs only a few`,
    });
    return result;
  }
  const source = new ManifestSource(file, text);
  const at = (
    severity: "error" | "warning",
    code: DiagnosticCode,
    path: DocPath,
    message: string,
    key = false,
  ): Diagnostic => ({
    severity,
    code,
    file,
    ...source.locate(path, { key }),
    path: pathText(path),
    message,
  });

  for (const e of source.doc.errors) {
    const pos = source.lineCounter.linePos(e.pos[0]);
    result.errors.push({
      severity: "error",
      code: "YAML_SYNTAX",
      yamlCode: e.code,
      file,
      ...pos,
      path: "",
      message: `YAML: ${e.message.split("\n")[0]}`,
    });
  }
  if (result.errors.length) return result;
  let data: unknown;
  try {
    data = source.doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // Aliases are resolved here, not while parsing: an unknown anchor, or an alias bomb.
    result.errors.push({
      severity: "error",
      code: "YAML_ALIAS",
      file,
      ...source.locateBrokenAlias(),
      path: "",
      message: `YAML: ${(error as Error).message}`,
    });
    return result;
  }
  result.errors.push(...(await schemaDiagnostics(source, data)));
  if (result.errors.length) return result;

  const written = data as WrittenManifest;
  const vars: Record<string, string> = {
    ...Object.fromEntries(Object.entries(written.vars ?? {}).map(([k, v]) => [k, String(v)])),
    ...options.vars,
  };
  const env = options.env ?? process.env;
  const { vars: _keep, ...rest } = shellReferencesAsEnvironment(written);
  const interpolated = interpolateDeep(rest, vars, env, (path, missing) => {
    for (const m of missing) {
      if (m.kind === "vars") {
        result.errors.push(
          at(
            "error",
            "UNDEFINED_VAR",
            path,
            `\${vars.${m.name}} is not defined: add it to vars or pass --var ${m.name}=...`,
          ),
        );
      } else if (options.mode === "run") {
        result.errors.push(
          at("error", "UNSET_ENV", path, `\${env.${m.name}} is not set in the environment`),
        );
      } else {
        result.warnings.push(
          at(
            "warning",
            "UNSET_ENV",
            path,
            `\${env.${m.name}} is not set here; it must be set where the update runs`,
          ),
        );
      }
    }
  }) as WrittenManifest;
  const manifest: WrittenManifest = {
    ...interpolated,
    ...(written.vars ? { vars: written.vars } : {}),
  };
  if (result.errors.length) return result;
  // The patterns of values that held a reference, now that they hold their values.
  result.errors.push(
    ...(await schemaDiagnostics(source, manifest)).filter((d) => d.code === "SCHEMA_PATTERN"),
  );
  if (result.errors.length) return result;

  const findings = RULES.flatMap((rule) =>
    rule(manifest, { manifestFile: file, storeDir: options.storeDir }),
  );
  for (const f of findings)
    (f.severity === "error" ? result.errors : result.warnings).push(
      at(f.severity, f.code, f.path, f.message, f.key),
    );
  if (result.errors.length === 0) result.manifest = resolveManifest(manifest, env);
  return result;
}

/**
 * A value pasted into a shell script is code: `${env.X}` holding `x; touch /tmp/pwned` ran the
 * touch. So in `shell:` a reference becomes a parameter expansion, `${ROLLPOINT_ENV_X}` (or
 * `${ROLLPOINT_VARS_X}`), and the value is passed to the script in its environment, where the
 * shell expands it as data: never parsed as commands, and inside double quotes not even split.
 * The step's `env` gets the reference itself, which interpolation then resolves (and reports as
 * missing, like anywhere else).
 */
function shellReferencesAsEnvironment(written: WrittenManifest): WrittenManifest {
  const rewrite = (steps: WrittenStep[] | undefined) =>
    steps?.map((step) => {
      if (typeof step.shell !== "string") return step;
      const passed: Record<string, string> = {};
      const shell = step.shell.replace(REFERENCE, (whole, kind: string, name: string) => {
        const variable = `ROLLPOINT_${kind.toUpperCase()}_${name}`;
        passed[variable] = whole;
        return `\${${variable}}`;
      });
      return Object.keys(passed).length
        ? { ...step, shell, env: { ...passed, ...step.env } }
        : step;
    });
  return {
    ...written,
    steps: rewrite(written.steps) ?? written.steps,
    ...(written.finally ? { finally: rewrite(written.finally) } : {}),
  };
}
