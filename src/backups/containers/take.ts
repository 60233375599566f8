// Taking a container member: inspect its containers, read its named volumes and compose files as
// file backups of the same point (with the containers paused, stopped or live, as `consistent`
// says), save its images into the store when asked, and keep them from deletion with a reference
// of rollpoint's own. One backup row of type `container` holds the record.

import { dirname, join } from "node:path";
import { describeError, GlobalRollbackError } from "../../errors.js";
import type { BackupRow } from "../../store/rows.js";
import type { Store } from "../../store/store.js";
import { dumpEntry } from "../databases/dump.js";
import type { Entry } from "../files/entry.js";
import { backupFiles } from "../files/kind.js";
import { type BackupLabel, recordBackup } from "../record.js";
import { type ContainerConfig, describeContainerMember } from "./config.js";
import { Engine, engineError } from "./engine.js";
import { type ContainerMeta, imageArg, type RecordedImage, type RecordedVolume } from "./meta.js";
import { type ContainerRecord, type InspectedContainer, recordOf } from "./record.js";

interface InspectedImage {
  Id: string;
  RepoTags?: string[] | null;
  Size?: number;
  Config?: { Entrypoint?: string[] | string | null } | null;
}

interface InspectedVolume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Labels?: Record<string, string> | null;
}

/** The member's containers as the engine has them now (compose: by the project's label). */
export async function memberContainers(
  engine: Engine,
  member: ContainerConfig,
): Promise<InspectedContainer[]> {
  if (member.compose) {
    const ids = await engine.containersLabelled("com.docker.compose.project", member.project!);
    const all = await engine.inspect<InspectedContainer>("container", ids);
    // `compose run` leaves one-off containers: not part of the project's services.
    return all.filter((c) => c.Config.Labels?.["com.docker.compose.oneoff"] !== "True");
  }
  const names = member.containers ?? [];
  const missing = [];
  for (const name of names) if (!(await engine.exists("container", name))) missing.push(name);
  if (missing.length)
    throw new Error(`no container named ${missing.join(", ")} (${member.engine} ps -a lists none)`);
  return engine.inspect<InspectedContainer>("container", names);
}

/** The named volumes the member's containers mount, and a compose project's own. */
export async function memberVolumes(
  engine: Engine,
  member: ContainerConfig,
  records: readonly ContainerRecord[],
): Promise<InspectedVolume[]> {
  const names = new Set(records.flatMap((r) => r.volumes));
  if (member.compose) {
    const out = await engine.run([
      "volume",
      "ls",
      "--filter",
      `label=com.docker.compose.project=${member.project}`,
      "--format",
      "{{.Name}}",
    ]);
    for (const name of out.split("\n").filter(Boolean)) names.add(name);
  }
  const volumes = await engine.inspect<InspectedVolume>("volume", [...names].sort());
  const remote = volumes.filter((v) => v.Driver !== "local");
  if (remote.length)
    throw new Error(
      `volume ${remote.map((v) => `${v.Name} (driver ${v.Driver})`).join(", ")}: only volumes of the local driver can be backed up (their files are on this host)`,
    );
  return volumes;
}

export async function takeContainers(
  store: Store,
  member: ContainerConfig,
  label: BackupLabel,
): Promise<BackupRow> {
  const engine = new Engine(member.engine);
  // The parts (volumes, compose files) belong to the same point, outside its ordered members:
  // this member restores them itself, between stopping its containers and starting them.
  const part: BackupLabel = {
    description: label.description,
    moduleName: label.moduleName,
    ...(label.pointId ? { pointId: label.pointId } : {}),
  };
  return recordBackup(
    store,
    // The member is in the row from the start: crash cleanup of a pending backup finds the
    // engine there, and the references this backup may have made (keepReference's prefix).
    { type: "container", source: describeContainerMember(member), meta: { member } },
    label,
    async (id) => {
      let inspected: InspectedContainer[];
      try {
        inspected = await memberContainers(engine, member);
      } catch (error) {
        throw engineError("BACKUP_FAILED", member.name, error);
      }
      const containers = inspected.map(recordOf);
      const volumes = await readVolumes(store, id, engine, member, containers, part);
      const files = [];
      if (member.compose) {
        // The project is its files: the compose file and the .env beside it (absent is recorded
        // as absent: a rollback removes one the update added).
        for (const path of [member.compose, join(dirname(member.compose), ".env")]) {
          const row = await backupFiles(store, { path, exclude: [], ...part });
          files.push({ path, backupId: row.id });
        }
      }
      const { images, entries } = await recordImages(store, engine, member, containers, id);
      const meta: ContainerMeta = { member, containers, images, volumes, files, inspected };
      return { entries, meta: meta as unknown as Record<string, unknown> };
    },
  );
}

/**
 * Each named volume as a file backup of its mountpoint, read while the member's running
 * containers are paused or stopped (as `consistent` says), and put back as they were after.
 * The pending row names the held containers before each is held (write-ahead): a runner killed
 * in between leaves crash cleanup what to resume (`resumeHeld`).
 */
async function readVolumes(
  store: Store,
  backupId: string,
  engine: Engine,
  member: ContainerConfig,
  containers: readonly ContainerRecord[],
  part: BackupLabel,
): Promise<RecordedVolume[]> {
  let volumes: InspectedVolume[];
  try {
    volumes = await memberVolumes(engine, member, containers);
  } catch (error) {
    throw engineError("BACKUP_FAILED", member.name, error);
  }
  if (!volumes.length) return [];
  const running = containers.filter((c) => c.state === "running").map((c) => c.name);
  const hold = member.consistent === "live" ? [] : running;
  const quiet: HeldContainers["quiet"] = member.consistent === "stop" ? "stop" : "pause";
  const held: string[] = [];
  const recorded: RecordedVolume[] = [];
  let failure: unknown;
  try {
    for (const name of hold) {
      store.catalog.updatePendingMeta(backupId, { member, held: [...held, name], quiet });
      await (quiet === "stop" ? engine.stop(name) : engine.run([quiet, name])).catch((error) => {
        throw engineError("BACKUP_FAILED", member.name, error);
      });
      held.push(name);
    }
    for (const v of volumes) {
      const row = await backupFiles(store, { path: v.Mountpoint, exclude: [], ...part });
      recorded.push({
        name: v.Name,
        driver: v.Driver,
        labels: v.Labels ?? {},
        mountpoint: v.Mountpoint,
        backupId: row.id,
      });
    }
  } catch (error) {
    failure = error;
  }
  // Started again in the order they were held, whatever happened: the point must not leave the
  // service down. One that does not start again is the backup's failure, named (with the first
  // failure, when the backup failed before).
  const left = await resumeHeld(engine, { held, quiet });
  if (!left.length) store.catalog.updatePendingMeta(backupId, { member });
  const leftWords = `containers ${member.name}: ${left.join("; ")}`;
  if (failure !== undefined) {
    if (left.length && failure instanceof Error) failure.message += ` (and ${leftWords})`;
    throw failure;
  }
  if (left.length)
    throw new GlobalRollbackError("BACKUP_FAILED", leftWords, { context: { path: member.name } });
  return recorded;
}

/** The containers a backup under way holds, as its pending row records them. */
export interface HeldContainers {
  held: string[];
  quiet: "pause" | "stop";
}

/**
 * Put held containers back as they were (unpause, or start after stop), each only if it is still
 * held: a crash may have come before the hold took effect or after the resume. Returns what could
 * not be resumed, each naming its container and what to type.
 */
export async function resumeHeld(
  engine: Engine,
  { held, quiet }: HeldContainers,
): Promise<string[]> {
  const left: string[] = [];
  // Podman's record of a stopped container reads `stopped` for a moment, then `exited`.
  const [resume, heldStates] =
    quiet === "stop" ? ["start", ["exited", "stopped"]] : ["unpause", ["paused"]];
  for (const name of held) {
    try {
      const status = await engine.settled(name);
      if (!status || !heldStates.includes(status)) continue;
      await engine.run([resume, name]);
    } catch (error) {
      left.push(
        `${name} is left ${quiet === "pause" ? "paused" : "stopped"} (${describeError(error)}): \`${engine.name} ${resume} ${name}\``,
      );
    }
  }
  return left;
}

/** The images the containers run, saved (saveImages) and given rollpoint's own reference. */
async function recordImages(
  store: Store,
  engine: Engine,
  member: ContainerConfig,
  containers: readonly ContainerRecord[],
  backupId: string,
): Promise<{ images: RecordedImage[]; entries: Entry[] }> {
  const ids = [...new Set(containers.map((c) => c.shape.imageId))].sort();
  const entries: Entry[] = [];
  const images: RecordedImage[] = [];
  const tagged: string[] = [];
  try {
    const inspected = await engine.inspect<InspectedImage>(
      "image",
      ids.map((i) => imageArg(member, i)),
    );
    for (const [i, image] of inspected.entries()) {
      const id = ids[i]!;
      let saved: string | undefined;
      if (member.saveImages) {
        const temp = store.objects.tempPath();
        await engine.run(
          member.engine === "podman"
            ? ["save", "--format", "docker-archive", "-o", temp, imageArg(member, id)]
            : ["save", "-o", temp, imageArg(member, id)],
          30 * 60_000,
        );
        const put = await store.objects.adoptTempFile(temp);
        entries.push({ ...dumpEntry(put), rel: `image-${id.replace(/^sha256:/, "")}.tar` });
        saved = put.hash;
      }
      const keep = keepReference(backupId, id);
      await engine.run(["tag", imageArg(member, id), keep]);
      tagged.push(keep);
      const refs = new Set(image.RepoTags ?? []);
      for (const c of containers) if (c.shape.imageId === id) refs.add(c.shape.imageRef);
      const ep = image.Config?.Entrypoint;
      images.push({
        id,
        refs: [...refs].filter((r) => !r.includes("rollpoint-keep")).sort(),
        keep,
        ...(saved ? { saved } : {}),
        size: image.Size ?? 0,
        entrypoint: Array.isArray(ep) ? ep : typeof ep === "string" && ep ? [ep] : [],
      });
    }
  } catch (error) {
    for (const ref of tagged) await engine.run(["rmi", ref]).catch(() => undefined);
    throw error instanceof GlobalRollbackError
      ? error
      : engineError("BACKUP_FAILED", member.name, error);
  }
  return { images, entries };
}

/**
 * rollpoint's own reference to an image a point holds: `rmi <tag>` and `image prune` (of dangling
 * images) leave it; `prune` of the point removes it. Named for the backup, so two points holding
 * one image each hold it.
 */
export function keepReference(backupId: string, imageId: string): string {
  return `${keepPrefix(backupId)}${imageId.replace(/^sha256:/, "").slice(0, 12)}`;
}

/** What every keep-reference of one backup starts with. */
export function keepPrefix(backupId: string): string {
  return `rollpoint-keep:${backupId.toLowerCase().replace(/[^a-z0-9_.-]/g, "-")}-`;
}
