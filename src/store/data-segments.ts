import { spawnSync } from "node:child_process";
import { fstatSync } from "node:fs";

/**
 * Where a file with holes keeps its data: the [start, end) byte ranges that SEEK_DATA and
 * SEEK_HOLE report, so that a 20 GB sparse file costs reads of its data, not of 20 GB of zeros
 * (reading a hole here runs at about 500 MB/s, all of it the kernel writing zeros).
 *
 * Node has no lseek, so perl does the seeks on the very descriptor (its stdin): perl-base is
 * Essential on Debian, and nothing is resolved by path (the file read is the one opened and
 * checked). Not FIEMAP (`filefrag`): it reports extents, which ext4 and btrfs have had wrong for
 * unwritten and inline data, and coreutils left it for SEEK_DATA for that reason.
 *
 * `undefined` whenever the answer cannot be trusted (no perl, an error, output that does not
 * parse, ranges out of order or beyond the size): the caller then reads every byte, as for a
 * file without holes. A file system without SEEK_DATA support reports the whole file as data,
 * which is also only slower, never wrong.
 */
export function dataSegments(fd: number): Array<[number, number]> | undefined {
  const size = fstatSync(fd).size;
  const answer = spawnSync("perl", ["-e", SEEKS], {
    stdio: [fd, "pipe", "pipe"],
    encoding: "utf8",
    maxBuffer: 16 << 20,
    timeout: 60_000,
  });
  if (answer.status !== 0 || typeof answer.stdout !== "string") return undefined;
  const segments: Array<[number, number]> = [];
  let last = 0;
  for (const line of answer.stdout.split("\n")) {
    if (line === "") continue;
    const match = /^(\d+) (\d+)$/.exec(line);
    if (!match) return undefined;
    const start = Number(match[1]);
    const end = Number(match[2]);
    if (!(start >= last && end > start && end <= size)) return undefined;
    segments.push([start, end]);
    last = end;
  }
  return segments;
}

// SEEK_DATA is 3 and SEEK_HOLE 4 on Linux. ENXIO from SEEK_DATA: no data after that offset.
const SEEKS = `
my $size = (stat STDIN)[7]; defined $size or exit 3;
my $at = 0;
while ($at < $size) {
  my $data = sysseek(STDIN, $at, 3);
  if (!defined $data) { exit 0 if $!{ENXIO}; exit 3 }
  my $hole = sysseek(STDIN, $data, 4); defined $hole or exit 3;
  $hole = $size if $hole > $size;
  printf("%d %d\\n", $data, $hole) if $hole > $data;
  $at = $hole > $data ? $hole : $size;
}
`;
