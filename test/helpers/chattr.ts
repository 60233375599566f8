import { execFileSync } from "node:child_process";

// Paths a test made immutable: the temporary-tree cleanup (tree.ts) lifts them before it
// removes the trees, whatever order the files' hooks run in.
const immutable: string[] = [];

/** `chattr +i PATH` for this test; lifted after it, so the temporary tree can be removed. */
export function makeImmutable(path: string): void {
  execFileSync("chattr", ["+i", path]);
  immutable.push(path);
}

/** A path a step of the test makes immutable itself: lifted after the test all the same. */
export function liftImmutableAfterTest(path: string): void {
  immutable.push(path);
}

/** Lift every flag set during the test (called by the temporary-tree cleanup). */
export function liftImmutable(): void {
  for (const path of immutable.splice(0)) {
    try {
      execFileSync("chattr", ["-i", "-a", path]);
    } catch {
      // Already gone, or never made immutable (the step failed before).
    }
  }
}
