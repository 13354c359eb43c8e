"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useGatehouse } from "./gatehouse";

export function Header() {
  const { auth, config, signOut } = useGatehouse();
  const { data: session, isPending } = auth.useSession();
  const router = useRouter();
  return (
    <header className="bar">
      <Link href="/" className="brand">
        Gatehouse Todo
      </Link>
      <span className="mode" title="How this app reaches the task API">
        {config.mode === "bearer" ? "bearer JWT" : "session via gateway"}
      </span>
      <span className="spacer" />
      {isPending ? null : session ? (
        <>
          <span className="who">{session.user.email}</span>
          <button
            type="button"
            onClick={async () => {
              await signOut();
              router.replace("/sign-in");
            }}
          >
            Sign out
          </button>
        </>
      ) : (
        <>
          <Link href="/sign-in">Sign in</Link>
          <Link href="/sign-up">Sign up</Link>
        </>
      )}
    </header>
  );
}
