import picomatch from "picomatch";

export type ExcludeMatcher = (rel: string) => boolean;

/**
 * Exclude globs, relative to the backed-up path, with gitignore's convention: a pattern without a
 * slash (`*.log`) matches a name at any depth; one with a slash (`cache/**`) matches from the top.
 * An excluded directory is not descended into, and restore leaves excluded paths alone.
 */
export function compileExcludes(patterns: readonly string[]): ExcludeMatcher {
  if (patterns.length === 0) return () => false;
  const anywhere = patterns.filter((p) => !p.includes("/"));
  const anchored = patterns.filter((p) => p.includes("/")).map((p) => p.replace(/^\/+/, ""));
  const byName = anywhere.length ? picomatch(anywhere, { dot: true, basename: true }) : () => false;
  const byPath = anchored.length ? picomatch(anchored, { dot: true }) : () => false;
  return (rel) => rel !== "" && (byName(rel) || byPath(rel));
}
