#!/usr/bin/env bash
# What the test suite needs from Debian, installed when it is missing: run by `npm test` (its
# pretest) and by .ci/run, so the README's test command works on a fresh Debian machine as it is.
# Installs only as root with apt-get; otherwise it lists what is missing and leaves it to you (the
# suites that need a missing tool then fail, loudly, under CI=true).
set -euo pipefail

updated=""
install_missing() {
  local packages=()
  for p in "$@"; do [ "$p" = --no-install-recommends ] || packages+=("$p"); done
  [ ${#packages[@]} -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: missing, install as root: apt-get install $*" >&2
    return 0
  fi
  echo "test-deps: installing ${packages[*]}" >&2
  [ -n "$updated" ] || { apt-get update -qq; updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

need_apt=()
command -v pg_dump >/dev/null 2>&1 || need_apt+=(postgresql postgresql-client)
# The suite starts its own MariaDB (mariadb-install-db, mariadbd) and uses mariadb-dump.
command -v mariadb-install-db >/dev/null 2>&1 || need_apt+=(mariadb-server)
command -v mariadb-dump >/dev/null 2>&1 || need_apt+=(mariadb-client)
command -v sync >/dev/null 2>&1 || need_apt+=(coreutils)
command -v mkfifo >/dev/null 2>&1 || need_apt+=(coreutils)
# The hardening tests: chattr (immutable files), mkfs.ext4 (a small store file system),
# fallocate and mount (filling it), setsid (a step that leaves its process group).
command -v chattr >/dev/null 2>&1 || need_apt+=(e2fsprogs)
# Extended attributes and ACLs are read and written with getfattr/setfattr (attr); the tests
# check them with getfacl/setfacl (acl) and setcap/getcap (libcap2-bin).
command -v getfattr >/dev/null 2>&1 || need_apt+=(attr)
command -v setfacl >/dev/null 2>&1 || need_apt+=(acl)
command -v setcap >/dev/null 2>&1 || need_apt+=(libcap2-bin)
# The fidelity tests judge restored trees with rsync -aHAXSn --checksum.
command -v rsync >/dev/null 2>&1 || need_apt+=(rsync)
# Which sync calls a backup and a restore make is read with strace.
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
# The clock-ordering tests run a second rollpoint under libfaketime.
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)
# The hostile-tree tests play a local user: an account (useradd, runuser), an inotify script run
# by Debian's own python3 (the account cannot read a python under /root), pkill to end it.
[ -x /usr/bin/python3 ] || need_apt+=(python3)
command -v useradd >/dev/null 2>&1 || need_apt+=(passwd)
command -v pkill >/dev/null 2>&1 || need_apt+=(procps)
# Reflinks are tested on a btrfs of the test's own (loop-mounted).
command -v mkfs.btrfs >/dev/null 2>&1 || need_apt+=(btrfs-progs)
command -v mkfs.ext4 >/dev/null 2>&1 || need_apt+=(e2fsprogs)
for tool in fallocate setsid mount; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=(util-linux mount)
done
# better-sqlite3 is compiled by node-gyp when no prebuilt binary can be fetched.
for tool in python3 make g++; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
install_missing "${need_apt[@]}"

# The service tests boot a real systemd in a container: systemd-nspawn (pinned to the host's
# systemd version: the newer candidate would upgrade the host's systemd packages), nsenter, and
# debootstrap to build the container's rootfs the first time (cached in /var/cache/rollpoint-test).
need_container=()
command -v nsenter >/dev/null 2>&1 || need_container+=(util-linux)
command -v debootstrap >/dev/null 2>&1 || need_container+=(debootstrap)
if ! command -v systemd-nspawn >/dev/null 2>&1; then
  systemd_version="$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)"
  need_container+=("systemd-container${systemd_version:+=$systemd_version}")
fi
install_missing --no-install-recommends "${need_container[@]}"

# The container tests start a Docker Engine and a Podman of their own (runc: crun refuses this
# hybrid cgroup host), drive docker-compose, and build their images from busybox.
need_engines=()
command -v dockerd >/dev/null 2>&1 || need_engines+=(docker.io)
command -v podman >/dev/null 2>&1 || need_engines+=(podman)
command -v runc >/dev/null 2>&1 || need_engines+=(runc)
command -v docker-compose >/dev/null 2>&1 || need_engines+=(docker-compose)
[ -x /usr/bin/busybox ] || need_engines+=(busybox-static)
install_missing "${need_engines[@]}"

# The fleet tests drive contrib/ansible with a real ansible-playbook; CI lints the role.
need_ansible=()
command -v ansible-playbook >/dev/null 2>&1 || need_ansible+=(ansible-core)
command -v ansible-lint >/dev/null 2>&1 || need_ansible+=(ansible-lint)
install_missing --no-install-recommends "${need_ansible[@]}"
