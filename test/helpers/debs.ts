import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** A package the tests build: its files (absolute paths), conffiles among them, scripts. */
export interface DebSpec {
  name: string;
  version: string;
  depends?: string[];
  conflicts?: string[];
  files: Record<string, string>;
  conffiles?: string[];
  postinst?: string;
}

/** Build `spec` with dpkg-deb into `repo`; its file name there. */
export function buildDeb(repo: string, spec: DebSpec): string {
  const root = mkdtempSync(join(tmpdir(), "rp-deb-"));
  try {
    mkdirSync(join(root, "DEBIAN"));
    for (const [path, content] of Object.entries(spec.files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    const control = [
      `Package: ${spec.name}`,
      `Version: ${spec.version}`,
      "Architecture: all",
      "Maintainer: rollpoint tests <tests@example.invalid>",
      ...(spec.depends?.length ? [`Depends: ${spec.depends.join(", ")}`] : []),
      ...(spec.conflicts?.length
        ? [`Conflicts: ${spec.conflicts.join(", ")}`, `Replaces: ${spec.conflicts.join(", ")}`]
        : []),
      `Description: ${spec.name}, a package of rollpoint's tests`,
      "",
    ].join("\n");
    writeFileSync(join(root, "DEBIAN", "control"), control);
    if (spec.conffiles?.length)
      writeFileSync(join(root, "DEBIAN", "conffiles"), `${spec.conffiles.join("\n")}\n`);
    if (spec.postinst) {
      writeFileSync(join(root, "DEBIAN", "postinst"), spec.postinst);
      chmodSync(join(root, "DEBIAN", "postinst"), 0o755);
    }
    const file = `${spec.name}_${spec.version}_all.deb`;
    execFileSync("dpkg-deb", ["--build", "--root-owner-group", root, join(repo, file)], {
      stdio: "pipe",
    });
    return file;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The repository's Packages index, as dpkg-scanpackages would write it, for a `file:` source. */
export function writeIndex(repo: string, debs: readonly string[]): void {
  const stanzas = debs.map((file) => {
    const path = join(repo, file);
    const control = execFileSync("dpkg-deb", ["-f", path]).toString().trimEnd();
    const bytes = readFileSync(path);
    return `${control}\nFilename: ./${file}\nSize: ${statSync(path).size}\nSHA256: ${createHash("sha256").update(bytes).digest("hex")}\n`;
  });
  writeFileSync(join(repo, "Packages"), `${stanzas.join("\n")}`);
}
