import type { ReactNode } from "react";
import { Link, Navigate, useLocation } from "react-router";
import { useSession } from "../state/session";
import { Skeleton } from "./Feedback";
import { PageTitle } from "./PageTitle";

/** Signed-in pages: wait for the silent refresh after a reload, else send to the login page. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { status } = useSession();
  const location = useLocation();
  if (status === "restoring") return <Skeleton lines={4} label="Signing you in…" />;
  if (status === "anonymous") {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  return <>{children}</>;
}

/** Admin pages: signed in with role admin; anyone else is told so (the API refuses them too). */
export function RequireAdmin({ children }: { children: ReactNode }) {
  const { isAdmin } = useSession();
  return (
    <RequireAuth>
      {isAdmin ? (
        children
      ) : (
        <section className="narrow">
          <PageTitle>Admins only</PageTitle>
          <p role="alert" className="error">
            This page is for administrators. Your account cannot open it.
          </p>
          <p>
            <Link to="/">Back to the shop</Link>
          </p>
        </section>
      )}
    </RequireAuth>
  );
}

/** A `next` parameter that stays on this site (no open redirect to //evil.example). */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}
