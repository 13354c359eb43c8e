// Better Auth's routes: /api/auth/sign-up/email, /sign-in/email, /sign-out,
// /get-session, /token (a JWT for the gateway) and /jwks (its keys).
import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

const handle = (request: Request) => auth().handler(request);

export { handle as GET, handle as POST };
