// The app's runtime settings. Read on the server at request time (never
// inlined at build time), so one `next build` serves both topologies and any
// deployment: the root layout hands them to the browser code.

/** Mode is how the browser reaches the task API. */
export type Mode =
  // bearer: the browser gets a JWT from Better Auth in this app
  // (authClient.token()) and calls the gateway with Authorization: Bearer.
  | "bearer"
  // session: the browser talks only to the gateway, for /api/auth/* and
  // /api/tasks; the gateway (SESSION_MODE=on) exchanges Better Auth's
  // session cookie for the JWT itself. The gateway must be on this app's site.
  | "session";

export interface AppConfig {
  mode: Mode;
  /** Public URL of the Gatehouse gateway, as the browser reaches it. */
  gatewayURL: string;
}

function origin(name: string, raw: string | undefined, fallback: string): string {
  const value = (raw ?? "").trim() || fallback;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`${name}: not a URL: ${JSON.stringify(value)} (e.g. ${fallback})`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`${name}: must be an http(s) URL, got ${JSON.stringify(value)} (e.g. ${fallback})`);
  }
  return value.replace(/\/+$/, "");
}

/** readConfig returns the settings from the environment; a bad one throws an error naming it. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const mode = (env.GATEHOUSE_MODE ?? "").trim() || "bearer";
  if (mode !== "bearer" && mode !== "session") {
    throw new Error(`GATEHOUSE_MODE: must be bearer or session, got ${JSON.stringify(mode)}`);
  }
  return { mode, gatewayURL: origin("GATEWAY_URL", env.GATEWAY_URL, "http://localhost:8080") };
}
