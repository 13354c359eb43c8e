"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useGatehouse } from "./gatehouse";

/** AuthForm signs up (with a name) or signs in with email and password, then opens the task list. */
export function AuthForm({ kind }: { kind: "sign-in" | "sign-up" }) {
  const { auth, tokens } = useGatehouse();
  const { refetch } = auth.useSession();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const email = String(form.get("email") ?? "");
    const password = String(form.get("password") ?? "");
    setBusy(true);
    setError(null);
    tokens.clear();
    const { error } =
      kind === "sign-up"
        ? await auth.signUp.email({ email, password, name: String(form.get("name") ?? "") })
        : await auth.signIn.email({ email, password });
    if (error) {
      setBusy(false);
      setError(error.message ?? error.statusText ?? "Something went wrong");
      return;
    }
    // The session store still says "signed out" until it refetches; the task
    // list would read that and send the browser back here. Wait for it.
    await refetch();
    setBusy(false);
    router.replace("/");
  }

  return (
    <form className="card auth" onSubmit={submit}>
      <h1>{kind === "sign-up" ? "Create an account" : "Sign in"}</h1>
      {kind === "sign-up" && (
        <label>
          Name
          <input name="name" autoComplete="name" required />
        </label>
      )}
      <label>
        Email
        <input name="email" type="email" autoComplete="email" required />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete={kind === "sign-up" ? "new-password" : "current-password"} minLength={8} required />
      </label>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {kind === "sign-up" ? "Sign up" : "Sign in"}
      </button>
      <p className="hint">
        {kind === "sign-up" ? (
          <>
            Have an account? <Link href="/sign-in">Sign in</Link>
          </>
        ) : (
          <>
            New here? <Link href="/sign-up">Create an account</Link>
          </>
        )}
      </p>
    </form>
  );
}
