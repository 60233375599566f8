// A packages member as the resolved manifest holds it: each named package, and each `apt` step's
// request, whose packages are found by simulating it on the host (preflight and the point alike).

import type { WrittenStep } from "../../manifest/types.js";
import type { AptRequest } from "./dpkg.js";

export type PackageEntry = { name: string } | { step: string; apt: AptRequest };

/**
 * The named packages, then one entry per `apt` step (in the resolved manifest only: the point
 * holds what the step would touch, which only the host can say).
 */
export function resolvePackages(
  written: ReadonlyArray<string | { name: string }>,
  steps: readonly WrittenStep[],
): PackageEntry[] {
  return [
    ...written.map((p) => (typeof p === "string" ? { name: p } : { name: p.name })),
    ...steps.flatMap((s) => (s.apt ? [{ step: s.id, apt: s.apt }] : [])),
  ];
}

export const namedPackages = (entries: readonly PackageEntry[]): string[] =>
  entries.flatMap((e) => ("name" in e ? [e.name] : []));

export const aptRequests = (entries: readonly PackageEntry[]) =>
  entries.flatMap((e) => ("apt" in e ? [e] : []));
