import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { session } from "../api";
import { finishSignIn, signInUrl } from "../api/signin";
import { ErrorMessage } from "../components/Feedback";
import { safeNext } from "../components/Guards";
import { PageTitle } from "../components/PageTitle";

/** Starts the code flow: auth's own page takes the password (the app never sees it). */
function SignInRedirect({ register }: { register: boolean }) {
  const [params] = useSearchParams();
  const [error, setError] = useState<unknown>(null);
  const next = safeNext(params.get("next"));

  useEffect(() => {
    signInUrl(next, register).then(
      (url) => window.location.assign(url),
      (failure: unknown) => setError(failure),
    );
  }, [next, register]);

  return (
    <section className="narrow">
      <PageTitle>{register ? "Create an account" : "Log in"}</PageTitle>
      {error ? <ErrorMessage error={error} /> : <p role="status">Taking you to the sign-in page…</p>}
    </section>
  );
}

export function LoginPage() {
  return <SignInRedirect register={false} />;
}

export function RegisterPage() {
  return <SignInRedirect register={true} />;
}

/** Where auth sends the browser back: redeem the code, then on to where the shopper was. */
export function CallbackPage() {
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return; // a code works once (React runs effects twice in development)
    started.current = true;
    finishSignIn(new URLSearchParams(window.location.search), session).then(
      (next) => navigate(next, { replace: true }),
      (failure: unknown) => setError(failure),
    );
  }, [navigate]);

  return (
    <section className="narrow">
      <PageTitle>Signing you in</PageTitle>
      {error ? (
        <>
          <ErrorMessage error={error} />
          <p>
            <Link to="/login">Log in again</Link>
          </p>
        </>
      ) : (
        <p role="status">Signing you in…</p>
      )}
    </section>
  );
}

export function NotFoundPage() {
  return (
    <section className="narrow">
      <PageTitle>Page not found</PageTitle>
      <p>There is nothing at this address.</p>
      <p>
        <Link to="/">Back to the shop</Link>
      </p>
    </section>
  );
}
