// What the manifest's rules report, and the checks they share: the rules of rules.ts and the
// member kinds' own rules (each kind's folder) both write findings with these.

import { isAbsolute, normalize, relative } from "node:path";
import type { RuleCode } from "./diagnostics.js";
import type { DocPath } from "./source.js";

/** A finding of one rule, positioned by its document path. */
export interface Finding {
  severity: "error" | "warning";
  /** Set by the rule's entry in RULES unless the finding names its own. */
  code?: RuleCode;
  path: DocPath;
  message: string;
  key?: boolean;
}

export interface RuleContext {
  manifestFile: string;
  storeDir: string;
}

export const error = (path: DocPath, message: string, key = false): Finding => ({
  severity: "error",
  path,
  message,
  key,
});
export const warning = (path: DocPath, message: string, code?: RuleCode): Finding => ({
  severity: "warning",
  path,
  message,
  ...(code ? { code } : {}),
});

// Trees the kernel and the boot make, not files an update writes: a "restore" of /dev deletes the
// device nodes made since, of /proc/sys writes kernel settings, of /run or /dev/shm removes the
// sockets, locks and shared memory of every running service.
const KERNEL_WHY: Record<string, string> = {
  "/proc": "the kernel's view of its processes and settings",
  "/sys": "the kernel's view of its devices and drivers",
  "/dev": "device nodes (and /dev/shm, shared memory) that the kernel and udev make",
  "/run": "the running system's sockets, locks and pids, made anew at every boot",
};
const KERNEL_TREES = Object.keys(KERNEL_WHY);

/** Why `p` cannot be a protected path (files, a SQLite database, a compose file), if it cannot. */
export function pathProblem(p: string, storeDir: string): string | undefined {
  // Still holding an unset ${env.X} (validate on a machine without it): judged where it runs.
  if (p.includes("${env.")) return undefined;
  if (!isAbsolute(p)) return "must be an absolute path";
  if (p.split("/").includes("..")) return "must not contain ..";
  if (p === "/") return "must not be / (the whole system)";
  const clean = normalize(p).replace(/\/+$/, "");
  if (clean !== p) return `must be normalised, as ${JSON.stringify(clean)}`;
  const kernel = KERNEL_TREES.find((top) => p === top || p.startsWith(`${top}/`));
  if (kernel)
    return `must not be under ${kernel}: ${KERNEL_WHY[kernel]}; nothing there can be backed up or put back as files`;
  const rel = relative(storeDir, p);
  if (rel === "" || (!rel.startsWith("..") && !isAbsolute(rel)))
    return `must not be inside the store (${storeDir})`;
  const back = relative(p, storeDir);
  if (!back.startsWith("..") && !isAbsolute(back))
    return `must not contain the store (${storeDir})`;
  return undefined;
}
