// Only ${vars.NAME} and ${env.NAME} belong to rollpoint; any other ${...} is a shell's own.
export const REFERENCE = /\$\{(vars|env)\.([A-Za-z_][A-Za-z0-9_]*)\}/g;

export interface Unresolved {
  kind: "vars" | "env";
  name: string;
}

/** Replace the references in `text`; report each that has no value (and leave it as written). */
export function interpolate(
  text: string,
  vars: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv,
  unresolved: Unresolved[],
): string {
  return text.replace(REFERENCE, (whole, kind: "vars" | "env", name: string) => {
    const value = kind === "vars" ? vars[name] : env[name];
    if (value === undefined) {
      unresolved.push({ kind, name });
      return whole;
    }
    return value;
  });
}

/** Every string in `value`, interpolated, with `onUnresolved` told where a reference failed. */
export function interpolateDeep(
  value: unknown,
  vars: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv,
  onUnresolved: (path: Array<string | number>, missing: Unresolved[]) => void,
  path: Array<string | number> = [],
): unknown {
  if (typeof value === "string") {
    const missing: Unresolved[] = [];
    const out = interpolate(value, vars, env, missing);
    if (missing.length) onUnresolved(path, missing);
    return out;
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => interpolateDeep(v, vars, env, onUnresolved, [...path, i]));
  }
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        interpolateDeep(v, vars, env, onUnresolved, [...path, k]),
      ]),
    );
  }
  return value;
}
