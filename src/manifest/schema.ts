import { createRequire } from "node:module";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import { type Diagnostic, nearest, pathText, shown } from "./diagnostics.js";
import type { DocPath, ManifestSource } from "./source.js";

const require = createRequire(import.meta.url);
/** The one definition of the format (schemas/manifest.schema.json). */
export const MANIFEST_SCHEMA = require("../../schemas/manifest.schema.json") as Record<
  string,
  unknown
>;

let compiled: ValidateFunction | undefined;

// The build writes a standalone validator (scripts/compile-schema.mjs) beside this module; from
// the sources, or if it is missing, the schema is compiled on first use. Loading and compiling
// ajv costs about 140 ms at start-up.
const PRECOMPILED = "./schema-validator.js";

/** The manifest validator, loaded (precompiled, else compiled) once. */
export async function validator(): Promise<ValidateFunction> {
  if (!compiled) {
    try {
      compiled = ((await import(PRECOMPILED)) as { default: ValidateFunction }).default;
      return compiled;
    } catch {
      // Not built: compile below.
    }
    const { default: Ajv2020 } = await import("ajv/dist/2020.js");
    const ajv = new Ajv2020.default({
      allErrors: true,
      strict: true,
      allowUnionTypes: true,
      // oneOf branches name required keys their subschema does not define (one step kind each).
      strictRequired: false,
      verbose: true,
    });
    // Keywords for editors (VS Code's YAML extension), not for validation.
    ajv.addVocabulary(["markdownDescription", "defaultSnippets"]);
    compiled = ajv.compile(MANIFEST_SCHEMA);
  }
  return compiled;
}

/**
 * Check a parsed manifest against the JSON Schema; every error, positioned and worded. A value
 * holding `${vars.X}` or `${env.X}` is not held to its pattern here: the loader checks the
 * patterns again once the references are resolved (a URL or a duration from a variable).
 */
export async function schemaDiagnostics(
  source: ManifestSource,
  data: unknown,
): Promise<Diagnostic[]> {
  const validate = await validator();
  if (validate(data)) return [];
  const errors = pruneBranches(
    (validate.errors ?? []).filter((e) => !forEditors(e) && !awaitsInterpolation(e)),
  );
  return errors.map((error) => {
    const path = toPath(error.instancePath);
    const { message, at, key } = describe(error, path);
    return {
      severity: "error",
      code: `SCHEMA_${error.keyword.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`,
      file: source.file,
      ...source.locate(at, { key }),
      path: pathText(at),
      message,
    };
  });
}

function awaitsInterpolation(error: ErrorObject): boolean {
  return (
    error.keyword === "pattern" &&
    typeof error.data === "string" &&
    /\$\{(vars|env)\.[A-Za-z_][A-Za-z0-9_]*\}/.test(error.data)
  );
}

// The schema's oneOf (exactly one step kind, one probe) and if/then (no host on SQLite) are
// there so that editors reject what validate rejects; validate's rules say the same with the
// values found ("found run and shell"), so their schema errors are left to them.
function forEditors(error: ErrorObject): boolean {
  return (
    ["oneOf", "if", "not"].includes(error.keyword) ||
    /\/(oneOf|then|not)(\/|$)/.test(error.schemaPath)
  );
}

// anyOf reports each branch's failure too; the anyOf error alone says it better.
function pruneBranches(errors: ErrorObject[]): ErrorObject[] {
  const anyOf = errors.filter((e) => e.keyword === "anyOf").map((e) => e.instancePath);
  return errors.filter(
    (e) =>
      e.keyword === "anyOf" ||
      !anyOf.some((p) => e.instancePath === p || e.instancePath.startsWith(`${p}/`)),
  );
}

function toPath(pointer: string): DocPath {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function describe(
  error: ErrorObject,
  path: DocPath,
): { message: string; at: DocPath; key?: boolean } {
  const params = error.params as Record<string, unknown>;
  const parent = error.parentSchema as Record<string, unknown> | undefined;
  switch (error.keyword) {
    case "additionalProperties": {
      const extra = String(params.additionalProperty);
      const known = Object.keys((parent?.properties as object | undefined) ?? {});
      const guess = nearest(extra, known);
      return {
        at: [...path, extra],
        key: true,
        message: guess
          ? `unknown key; did you mean "${guess}"?`
          : `unknown key; allowed here: ${known.join(", ")}`,
      };
    }
    case "required":
      return { at: path, message: `missing required key "${String(params.missingProperty)}"` };
    case "const":
      return {
        at: path,
        message: `must be ${shown(params.allowedValue)}, found ${shown(error.data)}`,
      };
    case "enum":
      return {
        at: path,
        message: `must be one of ${(params.allowedValues as unknown[]).map((v) => shown(v)).join(", ")}; found ${shown(error.data)}`,
      };
    case "type":
      return {
        at: path,
        message: `must be ${article(String(params.type))}, found ${shown(error.data)}`,
      };
    case "pattern":
      return { at: path, message: patternMessage(String(params.pattern), error.data) };
    case "minItems":
      return {
        at: path,
        message:
          (parent?.items as { type?: string } | undefined)?.type === "string"
            ? `must be a non-empty array of strings, found ${shown(error.data)}`
            : `must have at least ${String(params.limit)} item(s), found ${shown(error.data)}`,
      };
    case "minimum":
    case "maximum": {
      const min = parent?.minimum;
      const max = parent?.maximum;
      return {
        at: path,
        message: `must be between ${String(min)} and ${String(max)}, found ${shown(error.data)}`,
      };
    }
    case "minProperties":
    case "maxProperties":
      return {
        at: path,
        message: `must name exactly one of ${Object.keys((parent?.properties as object) ?? {}).join(", ")}; found ${shown(Object.keys((error.data as object) ?? {}))}`,
      };
    case "anyOf":
      return {
        at: path,
        message: `must be an absolute path, or { path, exclude }; found ${shown(error.data)}`,
      };
    case "propertyNames":
      return {
        at: path,
        message: `has a key that is not a valid name (letters, digits, _), found ${shown(Object.keys((error.data as object) ?? {}))}`,
      };
    default:
      return { at: path, message: `${error.message ?? "is invalid"} (found ${shown(error.data)})` };
  }
}

function patternMessage(pattern: string, data: unknown): string {
  if (pattern.includes("(ms|s|m|h|d)"))
    return `must be a duration like 500ms, 30s, 2m, 1h or 30d; found ${shown(data)}`;
  if (pattern.startsWith("^https?://"))
    return `must be an http:// or https:// URL, found ${shown(data)}`;
  if (pattern.includes("[0-9]{1,5}")) return `must be host:port, found ${shown(data)}`;
  if (pattern.includes("(mount|slice)"))
    return `must be a systemd unit name (letters, digits, ":_.\\@-"; not starting with "-", which systemctl would read as an option), found ${shown(data)}`;
  return `must match ${pattern}, found ${shown(data)}`;
}

function article(type: string): string {
  const words: Record<string, string> = {
    string: "a string",
    array: "a list",
    object: "a mapping",
    integer: "a whole number",
    number: "a number",
    boolean: "true or false",
  };
  return type
    .split(",")
    .map((t) => words[t] ?? t)
    .join(" or ");
}
