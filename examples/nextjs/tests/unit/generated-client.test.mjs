// The typed task client is generated from the tasks service's OpenAPI
// document; this fails when the checked-in types no longer match it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const app = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const spec = join(app, "..", "..", "tasks-service", "internal", "api", "openapi.json");
const checkedIn = join(app, "src", "lib", "gatehouse-api.d.ts");

test("src/lib/gatehouse-api.d.ts is what openapi-typescript makes of the tasks service's openapi.json", () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-openapi-"));
  try {
    const fresh = join(dir, "gatehouse-api.d.ts");
    execFileSync(join(app, "node_modules", ".bin", "openapi-typescript"), [spec, "-o", fresh], { stdio: "pipe" });
    assert.ok(
      readFileSync(fresh, "utf8") === readFileSync(checkedIn, "utf8"),
      "src/lib/gatehouse-api.d.ts is stale: run `npm run generate` in examples/nextjs and commit the result",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
