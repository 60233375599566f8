import { realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";

/**
 * Where a path really is: the realpath of its nearest existing ancestor, with the rest appended.
 * Two names for one place (a symlink among the parents) compare equal this way.
 */
export function realLocation(path: string): string {
  const absolute = resolve(path);
  const rest: string[] = [];
  let at = absolute;
  for (;;) {
    try {
      return join(realpathSync(at), ...rest.reverse());
    } catch {
      const up = dirname(at);
      if (up === at) return absolute;
      rest.push(basename(at));
      at = up;
    }
  }
}

/** How `path` and `store` overlap, by name and by real location, or undefined when they don't. */
export function storeOverlap(path: string, store: string): "inside" | "contains" | undefined {
  const within = (child: string, parent: string) => {
    const rel = relative(parent, child);
    return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
  };
  for (const [p, s] of [
    [resolve(path), resolve(store)],
    [realLocation(path), realLocation(store)],
  ] as const) {
    if (within(p, s)) return "inside";
    if (within(s, p)) return "contains";
  }
  return undefined;
}
