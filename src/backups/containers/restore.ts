// Putting a container member back, in the contract's order: stop its containers; restore its
// compose files and volumes (proven by the files kind, while nothing runs); put every reference
// back on its recorded image (loading a saved one the update deleted); recreate the containers
// whose image or configuration differs (compose from the restored files, never pulling or
// building); remove those the update added; return each to its recorded state; then read every
// container, reference and volume back and compare. Each step is idempotent: a restore resumed
// by `recover` simply runs again from the top.

import { describeError, GlobalRollbackError } from "../../errors.js";
import type { BackupRow } from "../../store/rows.js";
import type { Store } from "../../store/store.js";
import { pausePoint } from "../../util/pause-point.js";
import { type PreparedRestore, verifiedEntries } from "../operation.js";
import type { RollbackOperation } from "../outcomes.js";
import { applyParts, type PreparedPart, prepareParts, stepwiseOutcome } from "../parts.js";
import type { ServiceManager } from "../services/manager.js";
import { composeUp } from "./compose.js";
import type { ContainerConfig } from "./config.js";
import { createArgs } from "./create-args.js";
import { Engine } from "./engine.js";
import { type ContainerMeta, containerMeta, imageArg, type RecordedImage } from "./meta.js";
import { type InspectedContainer, recordOf, shapeDifferences } from "./record.js";
import { memberContainers } from "./take.js";

/** Check everything the restore will need, touching nothing: parts, saved images, the engine. */
export async function prepareContainerRestore(
  store: Store,
  row: BackupRow,
  services: ServiceManager,
): Promise<PreparedRestore> {
  const meta = containerMeta(row);
  const engine = new Engine(meta.member.engine);
  const fail = (message: string, code: "VERIFY_FAILED" | "RESTORE_FAILED" = "VERIFY_FAILED") =>
    new GlobalRollbackError(
      code,
      `backup ${row.id} (containers ${meta.member.name}) cannot be restored: ${message}; nothing was changed`,
      {
        context: { backupId: row.id, path: meta.member.name },
      },
    );
  try {
    await engine.serverVersion();
  } catch (error) {
    throw fail(describeError(error), "RESTORE_FAILED");
  }
  await verifiedEntries(store, row);
  const parts = await prepareParts(store, row, services, [
    ...meta.files.map((f) => ({ what: f.path, backupId: f.backupId })),
    ...meta.volumes.map((v) => ({ what: `volume ${v.name}`, backupId: v.backupId })),
  ]);
  for (const image of meta.images) {
    if (!image.saved && !(await engine.exists("image", imageArg(meta.member, image.id))))
      throw fail(
        `image ${image.id} (${image.refs.join(", ") || "no reference"}) is gone from ${meta.member.engine} and was not saved into the store (saveImages: true keeps a copy)`,
      );
  }
  return {
    row,
    apply: () => applyContainerRestore(store, row, meta, engine, parts),
  };
}

async function applyContainerRestore(
  store: Store,
  row: BackupRow,
  meta: ContainerMeta,
  engine: Engine,
  parts: PreparedPart[],
): Promise<RollbackOperation> {
  const { member } = meta;
  const done: string[] = [];
  const problems: string[] = [];
  const step = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      problems.push(`${what}: ${describeError(error)}`);
    }
  };
  await step("stopping its containers", async () => {
    const stopped = await stopMemberContainers(engine, member, meta);
    if (stopped.length) done.push(`stopped ${stopped.join(", ")}`);
  });
  if (problems.length) return result(row, done, problems);
  for (const v of meta.volumes) {
    await step(`volume ${v.name}`, async () => {
      if (!(await engine.exists("volume", v.name))) {
        await engine.run([
          "volume",
          "create",
          "--driver",
          v.driver,
          ...Object.entries(v.labels).flatMap(([k, val]) => ["--label", `${k}=${val}`]),
          v.name,
        ]);
        done.push(`created volume ${v.name}`);
      }
      const [now] = await engine.inspect<{ Mountpoint: string }>("volume", [v.name]);
      if (now?.Mountpoint !== v.mountpoint)
        throw new Error(
          `is now at ${now?.Mountpoint}, recorded at ${v.mountpoint}: not restored there`,
        );
    });
  }
  await applyParts(parts, done, problems);
  // A volume or file not put back exactly: starting the containers on it would be worse.
  if (problems.length) return result(row, done, problems);
  await step("images", () => restoreImages(store, engine, member, meta.images, done));
  if (problems.length) return result(row, done, problems);
  pausePoint("containers:recreate");
  await step("recreating containers", () => recreate(engine, meta, done));
  await step("removing added containers", () => removeAdded(engine, meta, done));
  await step("returning states", () => returnStates(engine, meta, done));
  problems.push(...(await proofOf(engine, meta)));
  return result(row, done, problems);
}

function result(row: BackupRow, done: string[], problems: string[]): RollbackOperation {
  return stepwiseOutcome(row, `containers ${containerMeta(row).member.name} are`, done, problems);
}

/**
 * Stop every container of the member that runs (unpausing a paused one first: a paused process
 * cannot take its stop signal), including those the update added. Returns their names.
 */
export async function stopMemberContainers(
  engine: Engine,
  member: ContainerConfig,
  meta: Pick<ContainerMeta, "containers">,
): Promise<string[]> {
  const live = member.compose
    ? await memberContainers(engine, member)
    : await engine.inspect<InspectedContainer>(
        "container",
        await existing(
          engine,
          meta.containers.map((c) => c.name),
        ),
      );
  const stopped: string[] = [];
  for (const c of live) {
    const name = c.Name.replace(/^\//, "");
    if (c.State.Paused) await engine.run(["unpause", name]);
    if (c.State.Running || c.State.Paused || c.State.Restarting) {
      await engine.stop(name);
      stopped.push(name);
    } else await engine.settled(name);
  }
  return stopped;
}

async function existing(engine: Engine, names: readonly string[]): Promise<string[]> {
  const out = [];
  for (const name of names) if (await engine.exists("container", name)) out.push(name);
  return out;
}

async function restoreImages(
  store: Store,
  engine: Engine,
  member: ContainerConfig,
  images: readonly RecordedImage[],
  done: string[],
): Promise<void> {
  for (const image of images) {
    const id = imageArg(member, image.id);
    if (!(await engine.exists("image", id))) {
      if (!image.saved) throw new Error(`image ${image.id} is gone and was not saved`);
      await engine.run(["load", "-i", store.objects.pathOf(image.saved)], 30 * 60_000);
      if (!(await engine.exists("image", id)))
        throw new Error(`image ${image.id}: the saved archive loaded, but not as that image`);
      done.push(`loaded image ${image.id.slice(7, 19)} from the store`);
    }
    for (const ref of [...image.refs, image.keep]) {
      if ((await imageIdOf(engine, ref)) === image.id) continue;
      await engine.run(["tag", id, ref]);
      done.push(`${ref} → ${image.id.slice(7, 19)}`);
    }
  }
}

async function imageIdOf(engine: Engine, ref: string): Promise<string | undefined> {
  try {
    const id = (await engine.run(["image", "inspect", "--format", "{{.Id}}", ref], 60_000)).trim();
    return id.startsWith("sha256:") ? id : `sha256:${id}`;
  } catch {
    return undefined;
  }
}

/** The recorded containers that are missing or differ in image or configuration. */
async function differing(engine: Engine, meta: ContainerMeta): Promise<string[]> {
  const names = meta.containers.map((c) => c.name);
  const present = new Map(
    (await engine.inspect<InspectedContainer>("container", await existing(engine, names))).map(
      (c) => [c.Name.replace(/^\//, ""), recordOf(c)],
    ),
  );
  return meta.containers
    .filter((c) => {
      const now = present.get(c.name);
      return !now || shapeDifferences(c.shape, now.shape).length > 0;
    })
    .map((c) => c.name);
}

async function recreate(engine: Engine, meta: ContainerMeta, done: string[]): Promise<void> {
  const names = await differing(engine, meta);
  if (!names.length) return;
  const records = meta.containers.filter((c) => names.includes(c.name));
  const { member } = meta;
  if (member.compose) {
    const services = [...new Set(records.flatMap((r) => (r.service ? [r.service] : [])))];
    const labels = records[0]!.shape.labels;
    const workingDir = labels["com.docker.compose.project.working_dir"];
    const configFiles = labels["com.docker.compose.project.config_files"];
    await composeUp(member, services, {
      ...(workingDir ? { workingDir } : {}),
      ...(configFiles ? { configFiles } : {}),
    });
  } else {
    for (const r of records) {
      if (await engine.exists("container", r.name)) await engine.run(["rm", "-f", r.name]);
      const image = meta.images.find((i) => i.id === r.shape.imageId);
      await engine.run(createArgs(member.engine, r, image?.entrypoint ?? []));
      for (const network of r.shape.networks) {
        if (network !== r.shape.networkMode)
          await engine.run(["network", "connect", network, r.name]);
      }
    }
  }
  done.push(`recreated ${names.join(", ")}`);
}

async function removeAdded(engine: Engine, meta: ContainerMeta, done: string[]): Promise<void> {
  if (!meta.member.compose) return;
  const recorded = new Set(meta.containers.map((c) => c.name));
  for (const c of await memberContainers(engine, meta.member)) {
    const name = c.Name.replace(/^\//, "");
    if (recorded.has(name)) continue;
    await engine.run(["rm", "-f", name]);
    done.push(`removed ${name} (added by the update)`);
  }
}

async function returnStates(engine: Engine, meta: ContainerMeta, done: string[]): Promise<void> {
  for (const c of meta.containers) {
    await engine.settled(c.name);
    const [now] = await engine.inspect<InspectedContainer>("container", [c.name]);
    if (!now) continue;
    const state = recordOf(now).state;
    if (state === c.state) continue;
    if (state === "paused") await engine.run(["unpause", c.name]);
    if (c.state === "stopped") {
      if (state !== "stopped") await engine.stop(c.name);
    } else {
      if (state === "stopped") await engine.run(["start", c.name]);
      if (c.state === "paused") await engine.run(["pause", c.name]);
    }
    done.push(`${c.name} ${c.state}`);
  }
}

/** Every container, reference and added container read back: a phrase per difference. */
export async function proofOf(engine: Engine, meta: ContainerMeta): Promise<string[]> {
  const out: string[] = [];
  try {
    const names = meta.containers.map((c) => c.name);
    const present = await existing(engine, names);
    const now = new Map(
      (await engine.inspect<InspectedContainer>("container", present)).map((c) => {
        const r = recordOf(c);
        return [r.name, r];
      }),
    );
    for (const c of meta.containers) {
      const live = now.get(c.name);
      if (!live) {
        out.push(`container ${c.name} is missing`);
        continue;
      }
      for (const d of shapeDifferences(c.shape, live.shape)) out.push(`container ${c.name}: ${d}`);
      if (live.state !== c.state)
        out.push(`container ${c.name} is ${live.state}, recorded ${c.state}`);
    }
    if (meta.member.compose) {
      for (const c of await memberContainers(engine, meta.member)) {
        const name = c.Name.replace(/^\//, "");
        if (!names.includes(name))
          out.push(`container ${name} was not there when the point was taken`);
      }
    }
    for (const image of meta.images) {
      for (const ref of image.refs) {
        const id = await imageIdOf(engine, ref);
        if (id !== image.id) out.push(`${ref} names ${id ?? "no image"}, recorded ${image.id}`);
      }
    }
  } catch (error) {
    out.push(`could not be read back: ${describeError(error)}`);
  }
  return out;
}
