import ignore from "ignore";

/** Whether a path (relative to the backed-up root, "/"-separated) is excluded. */
export type ExcludeMatcher = (rel: string, isDirectory: boolean) => boolean;

/**
 * Exclude patterns with .gitignore's rules exactly, through the `ignore` package (the matcher
 * eslint and prettier use): a pattern without a slash matches a name at any depth, a leading `/`
 * anchors it at the backed-up root, a trailing `/` matches directories only, `**` spans
 * directories, and `!` re-includes what an earlier pattern excluded. An excluded directory is not
 * descended into (as in git, a file below it cannot be re-included), and a restore leaves
 * excluded paths alone.
 */
export function compileExcludes(patterns: readonly string[]): ExcludeMatcher {
  if (patterns.length === 0) return () => false;
  const matcher = ignore({ allowRelativePaths: true }).add([...patterns]);
  return (rel, isDirectory) => rel !== "" && matcher.ignores(isDirectory ? `${rel}/` : rel);
}
