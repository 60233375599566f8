import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTree, type Spec, tempDir } from "./tree.js";

/**
 * A small host for one test: an app tree in a temporary directory, a manifest protecting it
 * (written from `manifest(app, dir)`: the text after `rollbackPoint`), and where the store goes.
 */
export async function appUpdate(
  tree: Record<string, Spec>,
  manifest: (app: string, dir: string) => string,
  name = "app",
) {
  const dir = await tempDir();
  const app = join(dir, "app");
  makeTree(app, tree);
  const file = join(dir, "m.yaml");
  writeFileSync(
    file,
    `apiVersion: rollpoint/v1\nname: ${name}\nrollbackPoint: { files: [${app}] }\n${manifest(app, dir)}`,
  );
  return { dir, app, manifest: file, store: join(dir, "store") };
}
