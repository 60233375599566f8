// The containers member kind: Docker or Podman, a compose project or single containers.

import { describeError } from "../../errors.js";
import type { WrittenContainer } from "../../manifest/types.js";
import { bytes } from "../../util/bytes.js";
import { fileMembers } from "../files/member.js";
import type { MemberEntries, MemberKind, PreflightCheck } from "../member-kind.js";
import { composeTool } from "./compose.js";
import { type ContainerConfig, describeContainerMember, resolveContainer } from "./config.js";
import { ENGINE_PACKAGE, Engine } from "./engine.js";
import { type ContainerMeta, containerMeta, imageArg } from "./meta.js";
import { type InspectedContainer, recordOf, shapeDifferences } from "./record.js";
import { prepareContainerRestore, stopMemberContainers } from "./restore.js";
import { containerRules } from "./rules.js";
import {
  type HeldContainers,
  keepPrefix,
  memberContainers,
  memberVolumes,
  resumeHeld,
  takeContainers,
} from "./take.js";

export const containerMembers: MemberKind<MemberEntries["containers"], WrittenContainer> = {
  type: "container",
  phase: "data",
  noun: ["container member", "container members"],
  rules: { code: "CONTAINER_CONFIG", check: containerRules },
  resolve: (entries, env) => entries.map((c) => resolveContainer(c, env)),
  planLines: (entries) =>
    entries.map(
      (c) =>
        `containers ${c.name}: ${describeContainerMember(c)}; volumes read ${c.consistent === "live" ? "live" : `with the containers ${c.consistent === "stop" ? "stopped" : "paused"}`}${c.saveImages ? "; images saved into the store" : "; images kept by reference"}`,
    ),
  members: (entries) =>
    entries.map((c) => ({ key: `containers-${c.name}`, target: describeContainerMember(c) })),
  async preflight(entries, context) {
    const checks: PreflightCheck[] = [];
    let newBytes = 0;
    let newFiles = 0;
    for (const member of entries) {
      const found = await inspectMember(member, context);
      checks.push(...found.checks);
      newBytes += found.newBytes;
      newFiles += found.newFiles;
    }
    return { checks, newBytes, newFiles };
  },
  async take(entries, { store, label }) {
    for (const member of entries) await takeContainers(store, member, label());
  },
  prepareRestore: prepareContainerRestore,
  async quiesce(row) {
    const meta = containerMeta(row);
    return stopMemberContainers(new Engine(meta.member.engine), meta.member, meta);
  },
  async preview(store, row, services) {
    const meta = containerMeta(row);
    const engine = new Engine(meta.member.engine);
    const lines: string[] = [];
    const live = await memberContainers(engine, meta.member).catch(
      () => [] as InspectedContainer[],
    );
    const now = new Map(live.map((c) => [c.Name.replace(/^\//, ""), recordOf(c)]));
    for (const c of meta.containers) {
      const found = now.get(c.name);
      if (!found) lines.push(`container ${c.name}: would be created again (it is gone)`);
      else {
        const diffs = shapeDifferences(c.shape, found.shape);
        if (diffs.length)
          lines.push(`container ${c.name}: would be recreated (${diffs.join("; ")})`);
        if (found.state !== c.state)
          lines.push(`container ${c.name}: would be ${c.state} (now ${found.state})`);
      }
      now.delete(c.name);
    }
    for (const name of now.keys()) lines.push(`container ${name}: would be removed (added since)`);
    for (const part of partsOf(meta)) {
      const row = store.catalog.getBackup(part.backupId);
      if (!row) lines.push(`${part.what}: its backup ${part.backupId} is missing`);
      else
        lines.push(
          ...(await fileMembers.preview(store, row, services)).map((l) => `${part.what}: ${l}`),
        );
    }
    return lines;
  },
  describeBackup(meta) {
    const m = meta as unknown as ContainerMeta;
    return [
      ...m.containers.map(
        (c) =>
          `container ${c.name.padEnd(24)} ${c.shape.imageRef} → ${c.shape.imageId.slice(7, 19)}  ${c.state}`,
      ),
      ...m.images.map(
        (i) =>
          `image     ${i.id.slice(7, 19)} ${i.refs.join(", ") || "(no reference)"} (${bytes(i.size)})${i.saved ? ", saved in the store" : ""}`,
      ),
      ...m.volumes.map(
        (v) => `volume    ${v.name.padEnd(24)} ${v.mountpoint} (backup ${v.backupId})`,
      ),
      ...m.files.map((f) => `file      ${f.path} (backup ${f.backupId})`),
    ];
  },
  // Releases rollpoint's references: an image nothing else names is then the engine's to delete.
  // A backup whose runner died while it held containers (paused or stopped to read their
  // volumes) first puts them back: the point was never taken, so the service must run again.
  async discardExternal(row) {
    const meta = containerMeta(row);
    if (!meta?.member) return;
    const engine = new Engine(meta.member.engine);
    const holding = row.meta as Partial<HeldContainers>;
    if (row.status === "pending" && holding.held?.length && holding.quiet) {
      const left = await resumeHeld(engine, { held: holding.held, quiet: holding.quiet });
      if (left.length) throw new Error(left.join("; "));
    }
    // A backup that never completed (the runner killed while it was taken) recorded no images:
    // its references are found by their prefix.
    const refs = meta.images
      ? meta.images.map((i) => i.keep)
      : // Filtered here, not by `--filter reference=`: Podman's filter matches the image, and
        // would list every other tag of it too.
        (await engine.run(["images", "--format", "{{.Repository}}:{{.Tag}}"]))
          .split("\n")
          .filter((ref) => ref.replace(/^localhost\//, "").startsWith(keepPrefix(row.id)));
    for (const ref of refs) {
      if (await engine.exists("image", ref)) await engine.run(["rmi", ref]);
    }
  },
  // The images stay kept while the point lives: `rollback <run>` of a committed run needs them.
  afterCommit: async () => {},
  async checkExternal(row) {
    const meta = containerMeta(row);
    const engine = new Engine(meta.member.engine);
    const gone = [];
    try {
      for (const image of meta.images)
        if (!image.saved && !(await engine.exists("image", imageArg(meta.member, image.id))))
          gone.push(image.id);
    } catch (error) {
      return `${meta.member.engine} cannot be asked: ${describeError(error)}`;
    }
    return gone.length
      ? `image ${gone.join(", ")} is gone from ${meta.member.engine} and was not saved into the store`
      : undefined;
  },
};

/** The file backups a container backup holds, named for messages. */
function partsOf(meta: ContainerMeta): Array<{ what: string; backupId: string }> {
  return [
    ...meta.files.map((f) => ({ what: f.path, backupId: f.backupId })),
    ...meta.volumes.map((v) => ({ what: `volume ${v.name}`, backupId: v.backupId })),
  ];
}

/** Preflight of one member: the engine answers, its containers, images and volumes as they are. */
async function inspectMember(
  member: ContainerConfig,
  context: Parameters<MemberKind<ContainerConfig>["preflight"]>[1],
) {
  const subject = `containers ${member.name}`;
  const engine = new Engine(member.engine);
  const failed = (detail: string) => ({
    checks: [{ ok: false, subject, detail }],
    newBytes: 0,
    newFiles: 0,
  });
  let version: string;
  try {
    version = await engine.serverVersion();
  } catch (error) {
    const message = describeError(error);
    return failed(
      /not installed/.test(message)
        ? `${member.engine} is not installed: install the package ${ENGINE_PACKAGE[member.engine]}`
        : `${member.engine} does not answer: ${message}`,
    );
  }
  const checks: PreflightCheck[] = [];
  if (member.compose) {
    try {
      const tool = await composeTool(member.engine);
      checks.push({
        ok: true,
        subject,
        detail: `${member.engine} ${version}, ${tool.join(" ")}, project ${member.project}`,
      });
    } catch (error) {
      return failed(describeError(error));
    }
  } else checks.push({ ok: true, subject, detail: `${member.engine} ${version}` });
  let newBytes = 0;
  let newFiles = 0;
  try {
    const containers = (await memberContainers(engine, member)).map(recordOf);
    if (!containers.length)
      checks.push({
        ok: true,
        warning: true,
        subject,
        detail: `project ${member.project} has no containers now: the rollback will remove those the update creates; if it has some, check \`project\``,
      });
    for (const c of containers)
      checks.push({
        ok: true,
        subject: `container ${c.name}`,
        detail: `${c.shape.imageRef} → ${c.shape.imageId.slice(7, 19)}, ${c.state}`,
      });
    if (member.saveImages) {
      const ids = [...new Set(containers.map((c) => imageArg(member, c.shape.imageId)))];
      for (const image of await engine.inspect<{ Id: string; Size?: number }>("image", ids)) {
        newBytes += image.Size ?? 0;
        newFiles++;
        checks.push({
          ok: true,
          subject: `image ${image.Id.replace(/^sha256:/, "").slice(0, 12)}`,
          detail: `${bytes(image.Size ?? 0)}, saved into the store`,
        });
      }
    }
    for (const v of await memberVolumes(engine, member, containers)) {
      const found = await fileMembers.preflight([{ path: v.Mountpoint, exclude: [] }], context);
      for (const check of found.checks)
        checks.push({
          ...check,
          subject: `volume ${v.Name}`,
          detail: `${check.detail} (${v.Mountpoint})`,
        });
      newBytes += found.newBytes;
      newFiles += found.newFiles;
    }
  } catch (error) {
    return {
      checks: [...checks, { ok: false, subject, detail: describeError(error) }],
      newBytes,
      newFiles,
    };
  }
  return { checks, newBytes, newFiles };
}
