import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import { errorMessage, retryAfter } from "../lib/client";
import { navigate } from "../lib/router";
import { Alert, Button, Field } from "./ui";

// AccountFields is what the app knows of the signed-in account, whichever
// operation answers with it.
graphql(`
  fragment AccountFields on Account {
    id
    email
    displayName
    isAdmin
  }
`);

const MeQuery = graphql(`
  query Me {
    me {
      account {
        ...AccountFields
      }
    }
  }
`);

const SignInMutation = graphql(`
  mutation SignIn($input: SignInInput!) {
    signIn(input: $input) {
      account {
        ...AccountFields
      }
    }
  }
`);

const SignUpMutation = graphql(`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      account {
        ...AccountFields
      }
    }
  }
`);

const SignOutMutation = graphql(`
  mutation SignOut {
    signOut
  }
`);

/** useMe returns the signed-in account (null when signed out). */
export function useMe() {
  const [res, refetch] = useQuery({ query: MeQuery });
  return {
    account: res.data?.me?.account ?? null,
    loading: res.fetching && !res.data,
    error: res.error,
    refetch: () => refetch({ requestPolicy: "network-only" }),
  };
}

/** toSignIn sends a signed-out visitor to the sign-in page, which brings them back here. */
export function toSignIn() {
  navigate("/signin?next=" + encodeURIComponent(window.location.pathname + window.location.search), { replace: true });
}

export function useSignOut() {
  const [state, signOut] = useMutation(SignOutMutation);
  return { busy: state.fetching, signOut: () => signOut({}, { additionalTypenames: ["Viewer", "Account"] }) };
}

/**
 * AuthForm signs in or creates an account inline (in the consent popup and
 * on the sign-in page). The session cookie is set by the API; onDone runs
 * once it is.
 */
export function AuthForm({ onDone, initialMode = "signin" }: { onDone: () => void; initialMode?: "signin" | "signup" }) {
  const [mode, setMode] = useState<"signin" | "signup">(initialMode);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [signIn, doSignIn] = useMutation(SignInMutation);
  const [signUp, doSignUp] = useMutation(SignUpMutation);
  const busy = signIn.fetching || signUp.fetching;
  const wait = useCountdown();

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (wait.left > 0) return;
    setError(null);
    const res =
      mode === "signin"
        ? await doSignIn({ input: { email, password } })
        : await doSignUp({ input: { email, password, displayName: name || null } });
    if (res.error) {
      const secs = retryAfter(res.error);
      if (secs !== null) wait.start(secs);
      else setError(errorMessage(res.error));
      return;
    }
    onDone();
  }

  return (
    <form className="auth-form" onSubmit={submit} noValidate aria-label={mode === "signin" ? "Sign in to Wattfare" : "Create a Wattfare account"}>
      <div className="tabs" role="tablist" aria-label="Account">
        <button type="button" role="tab" aria-selected={mode === "signin"} className={mode === "signin" ? "active" : ""} onClick={() => { setMode("signin"); setError(null); }}>
          Sign in
        </button>
        <button type="button" role="tab" aria-selected={mode === "signup"} className={mode === "signup" ? "active" : ""} onClick={() => { setMode("signup"); setError(null); }}>
          Create account
        </button>
      </div>
      {wait.left > 0 ? (
        <Alert>
          Too many attempts. Try again in {wait.left} {wait.left === 1 ? "second" : "seconds"}.
        </Alert>
      ) : (
        error && <Alert>{error}</Alert>
      )}
      {mode === "signup" && <Field label="Name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />}
      <Field label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      <Field
        label="Password"
        type="password"
        autoComplete={mode === "signin" ? "current-password" : "new-password"}
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        hint={mode === "signup" ? "At least 8 characters." : undefined}
      />
      <Button type="submit" busy={busy} disabled={wait.left > 0} className="wide">
        {mode === "signin" ? "Sign in" : "Create account"}
      </Button>
    </form>
  );
}

/**
 * useCountdown counts whole seconds down to zero (after RATE_LIMITED's
 * retryAfterSeconds), re-rendering each second; left is 0 when idle.
 */
function useCountdown() {
  const [until, setUntil] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (until <= now) return;
    const t = setTimeout(() => setNow(Date.now()), Math.min(1000, until - now));
    return () => clearTimeout(t);
  }, [until, now]);
  return {
    left: Math.max(0, Math.ceil((until - now) / 1000)),
    start(secs: number) {
      const t = Date.now();
      setNow(t);
      setUntil(t + secs * 1000);
    },
  };
}
