// `next build`, unless .next already holds the build of exactly these
// sources: a hash of src/, the configuration and the lock file is kept in
// .next/gatehouse-build-stamp, so the browser suite and `make run-example`
// build once and then start at once.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const app = join(dirname(fileURLToPath(import.meta.url)), "..");
const stampFile = join(app, ".next", "gatehouse-build-stamp");

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

const hash = createHash("sha256");
for (const f of [...files(join(app, "src")), ...["next.config.ts", "tsconfig.json", "package.json", "package-lock.json"].map((f) => join(app, f))]) {
  hash.update(relative(app, f)).update("\0").update(readFileSync(f)).update("\0");
}
const stamp = hash.digest("hex");

if (existsSync(join(app, ".next", "BUILD_ID")) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
  console.error("next build: .next is up to date with the sources, not rebuilt");
} else {
  const began = Date.now();
  execFileSync(process.execPath, [join(app, "node_modules", "next", "dist", "bin", "next"), "build"], {
    cwd: app,
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  writeFileSync(stampFile, stamp);
  console.error(`next build: done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}
