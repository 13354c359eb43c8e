import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, load } from "./config.mjs";

const valid = {
  BETTER_AUTH_URL: "http://localhost:8080/",
  BETTER_AUTH_SECRET: "0123456789abcdef0123456789abcdef",
  AUTH_DATABASE_URL: "postgres://postgres@127.0.0.1:5432/gatehouse_auth",
};

test("valid minimal environment gets the documented defaults", () => {
  const cfg = load(valid);
  assert.equal(cfg.baseURL, "http://localhost:8080");
  assert.equal(cfg.jwt.alg, "EdDSA");
  assert.equal(cfg.jwt.expiration, "15m");
  assert.equal(cfg.jwt.rotateOnStart, false);
  assert.equal(cfg.jwt.rotationInterval, undefined);
  assert.equal(cfg.rateLimit, undefined);
  assert.equal(cfg.host, "127.0.0.1");
  assert.equal(cfg.port, 8082); // off 3000, where Next.js runs
  assert.deepEqual(cfg.trustedOrigins, []);
});

test("optional settings are parsed", () => {
  const cfg = load({
    ...valid,
    BETTER_AUTH_JWT_ALG: "RS256",
    BETTER_AUTH_TRUSTED_ORIGINS: "http://localhost:3001, https://app.example.com",
    BETTER_AUTH_JWKS_ROTATION_INTERVAL: "3600",
    BETTER_AUTH_ROTATE_KEYS_ON_START: "true",
    BETTER_AUTH_RATE_LIMIT: "off",
    PORT: "0",
  });
  assert.equal(cfg.jwt.alg, "RS256");
  assert.deepEqual(cfg.trustedOrigins, ["http://localhost:3001", "https://app.example.com"]);
  assert.equal(cfg.jwt.rotationInterval, 3600);
  assert.equal(cfg.jwt.rotateOnStart, true);
  assert.equal(cfg.rateLimit, false);
  assert.equal(cfg.port, 0);
});

const bad = [
  ["missing base URL", { BETTER_AUTH_URL: undefined }, "BETTER_AUTH_URL", /is required/],
  ["base URL without scheme", { BETTER_AUTH_URL: "localhost:3000" }, "BETTER_AUTH_URL", /http or https/],
  ["missing secret", { BETTER_AUTH_SECRET: undefined }, "BETTER_AUTH_SECRET", /is required/],
  ["short secret", { BETTER_AUTH_SECRET: "short" }, "BETTER_AUTH_SECRET", /at least 32 characters, got 5/],
  ["missing database", { AUTH_DATABASE_URL: "" }, "AUTH_DATABASE_URL", /is required/],
  ["non-postgres database", { AUTH_DATABASE_URL: "mysql://x" }, "AUTH_DATABASE_URL", /postgres:\/\//],
  ["HMAC algorithm", { BETTER_AUTH_JWT_ALG: "HS256" }, "BETTER_AUTH_JWT_ALG", /must be one of/],
  ["none algorithm", { BETTER_AUTH_JWT_ALG: "none" }, "BETTER_AUTH_JWT_ALG", /must be one of/],
  ["origin with path", { BETTER_AUTH_TRUSTED_ORIGINS: "http://localhost:3001/app" }, "BETTER_AUTH_TRUSTED_ORIGINS", /has a path/],
  ["rotation not a number", { BETTER_AUTH_JWKS_ROTATION_INTERVAL: "1h" }, "BETTER_AUTH_JWKS_ROTATION_INTERVAL", /whole number/],
  ["rotate flag not boolean", { BETTER_AUTH_ROTATE_KEYS_ON_START: "maybe" }, "BETTER_AUTH_ROTATE_KEYS_ON_START", /true or false/],
  ["port out of range", { PORT: "70000" }, "PORT", /port number/],
];

for (const [desc, patch, variable, message] of bad) {
  test(`rejects ${desc}, naming ${variable}`, () => {
    assert.throws(
      () => load({ ...valid, ...patch }),
      (err) => err instanceof ConfigError && err.variable === variable && err.message.startsWith(`${variable}: `) && message.test(err.message),
    );
  });
}
