import { type FormEvent, useState } from "react";
import { type Session, sessionApi } from "../api";

/** Sign-in: the key goes to the server once, in a POST body; the browser keeps only the HttpOnly session cookie. */
export function SignIn(props: { onSignedIn: (session: Session) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const input = form.elements.namedItem("key") as HTMLInputElement;
    setBusy(true);
    setError(null);
    try {
      const session = await sessionApi.signIn(input.value);
      input.value = "";
      props.onSignedIn(session);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" className="sign-in">
      <h1>Sign in to Tollgate</h1>
      <p>Use an admin or viewer API key. The key is exchanged for a session; the browser does not keep it.</p>
      <form onSubmit={submit}>
        <label htmlFor="key">API key</label>
        <input id="key" name="key" type="password" autoComplete="off" spellCheck={false} required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
