// Runs once when the Next.js server starts: Better Auth's tables and first
// signing key exist before the first request (and before the gateway fetches
// the JWKS).
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { prepare } = await import("./lib/auth");
  await prepare();
}
