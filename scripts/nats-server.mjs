// nats-server for `npm test` and `npm run bench`: the replication tests and bench/replicate
// start real JetStream clusters on 127.0.0.1 (tests/harness/nats-cluster.ts). Where it is
// missing, Debian's package is installed when this runs as root with apt-get; otherwise the
// caller stops with a message saying how to install it (never skipping silently).
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** `name` on PATH or in one of `extraDirs`, as an executable path; undefined if nowhere. */
function findExecutable(name, extraDirs = []) {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

// The same places tests/harness/nats-cluster.ts looks in.
const NATS_SERVER_DIRS = ["/usr/sbin", "/usr/local/bin", "/usr/bin", "/usr/local/sbin"];
const APT_TIMEOUT_MS = 10 * 60 * 1000;

function apt(aptGet, args) {
  console.log(`${aptGet} ${args.join(" ")}`);
  const r = spawnSync(aptGet, args, {
    stdio: "inherit",
    timeout: APT_TIMEOUT_MS,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return r.status === 0;
}

/** True once nats-server is there, installing Debian's package with apt-get when run as root; false (having said how to install it) otherwise. */
export function ensureNatsServer() {
  console.log("\n== nats-server (the JetStream cluster of the replication tests and bench)");
  let path = findExecutable("nats-server", NATS_SERVER_DIRS);
  const aptGet = findExecutable("apt-get", ["/usr/bin"]);
  if (!path && process.getuid?.() === 0 && aptGet) {
    console.log("nats-server not found; installing the Debian package");
    if (!apt(aptGet, ["install", "-y", "nats-server"])) {
      apt(aptGet, ["update"]);
      apt(aptGet, ["install", "-y", "nats-server"]);
    }
    path = findExecutable("nats-server", NATS_SERVER_DIRS);
  }
  if (!path) {
    console.log(
      "nats-server not found on PATH nor in " + NATS_SERVER_DIRS.join(", ") + ", and it could not be installed here.\n" +
        "The replication tests and bench need it: install it with `apt-get install nats-server` (as root; Debian/Ubuntu)\n" +
        "or put a nats-server 2.9+ binary on PATH, then run again.",
    );
    return false;
  }
  const version = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
  console.log(`${path}: ${(version.stdout || version.stderr || "").trim() || "version unknown"}`);
  return true;
}

