import { Suspense } from "react";
import { Tasks } from "@/components/tasks";

export default function Home() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <Tasks />
    </Suspense>
  );
}
