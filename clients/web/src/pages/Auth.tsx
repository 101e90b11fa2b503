// Sign in and registration.
import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";
import { apiError, type ApiError } from "@fip/client";
import { api, session, useSession } from "../app/api";
import { actionFor, describe } from "../app/actions";
import { ErrorBanner, Notice, TextField } from "../components/ui";

/** Only paths of this app: never an absolute URL from the query string. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

const ENDED: Record<string, string> = {
  session_ended: "Your session has ended. Sign in again to continue where you were.",
  token_expired: "Your session has expired. Sign in again to continue where you were.",
  token_invalid: "Your sign-in is no longer valid. Sign in again to continue.",
  other_tab: "You signed out in another tab.",
};

function loginMessage(e: ApiError): string {
  switch (e.reason) {
    case "LOGIN_FAILED":
      return "The username or password is wrong.";
    case "ACCOUNT_DISABLED":
      return "This account has been deactivated. Contact the hub's administrators.";
    default:
      return describe(e);
  }
}

export function LoginPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const { user } = useSession();
  const [username, setUsername] = useState(params.get("username") ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get("next"));
  if (user && !busy) return <Navigate to={next} replace />;
  const ended = params.get("ended");
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await session.login(username, password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(loginMessage(apiError(err)));
    } finally {
      setBusy(false);
    }
  }
  return (
    <main id="main" className="auth">
      <div className="auth-card">
        <h1>Sign in</h1>
        <p className="muted">Federated Imputation Platform</p>
        {ended && ENDED[ended] && <Notice kind="warning">{ENDED[ended]}</Notice>}
        {params.get("registered") && <Notice kind="success">Your account is ready. Sign in.</Notice>}
        {error && <ErrorBanner error={error} />}
        <form onSubmit={submit} noValidate>
          <TextField label="Username or email" value={username} onChange={setUsername} autoComplete="username" required />
          <TextField label="Password" type="password" value={password} onChange={setPassword} autoComplete="current-password" required />
          <button type="submit" disabled={busy || !username || !password}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
        <p>
          No account yet? <Link to={`/register${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`}>Register</Link>
        </p>
      </div>
    </main>
  );
}

export interface RegisterValues {
  username: string;
  email: string;
  password: string;
  confirm: string;
  firstName: string;
  lastName: string;
  institution: string;
  department: string;
}

/** Checks the form as the hub would, so most mistakes show before sending. */
export function validateRegistration(v: RegisterValues): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!/^[A-Za-z0-9.@+\-_]{3,150}$/.test(v.username))
    errors.username = "3 to 150 letters, digits or . @ + - _";
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v.email)) errors.email = "Enter a valid email address";
  if (v.password.length < 8) errors.password = "At least 8 characters";
  else if (v.password === v.username || v.password === v.email)
    errors.password = "Must differ from the username and email";
  if (v.confirm !== v.password) errors.confirm = "The passwords do not match";
  if (!v.firstName.trim()) errors.first_name = "Required";
  if (!v.lastName.trim()) errors.last_name = "Required";
  return errors;
}

export function RegisterPage() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [v, setV] = useState<RegisterValues>({
    username: "",
    email: "",
    password: "",
    confirm: "",
    firstName: "",
    lastName: "",
    institution: "",
    department: "",
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [banner, setBanner] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (k: keyof RegisterValues) => (value: string) => setV((old) => ({ ...old, [k]: value }));
  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = validateRegistration(v);
    setErrors(found);
    setBanner(undefined);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      await api.users.register({
        username: v.username,
        email: v.email,
        password: v.password,
        firstName: v.firstName,
        lastName: v.lastName,
        institution: v.institution,
        department: v.department,
      });
      const next = params.get("next");
      navigate(
        `/login?registered=1&username=${encodeURIComponent(v.username)}${next ? `&next=${encodeURIComponent(next)}` : ""}`,
      );
    } catch (err) {
      const error = apiError(err);
      const action = actionFor(error);
      if (action.kind === "fix_fields") {
        const fields = { ...action.fields };
        if (error.reason === "ALREADY_EXISTS" && error.metadata.field)
          fields[error.metadata.field] = `This ${error.metadata.field} is already registered`;
        setErrors(fields);
      } else if (error.reason === "REGISTRATION_DISABLED") {
        setBanner("Registration is closed on this hub: ask an administrator for an account.");
      } else setBanner(describe(error));
    } finally {
      setBusy(false);
    }
  }
  return (
    <main id="main" className="auth">
      <div className="auth-card auth-wide">
        <h1>Create an account</h1>
        {banner && <ErrorBanner error={banner} />}
        <form onSubmit={submit} noValidate>
          <div className="grid-2">
            <TextField label="First name" value={v.firstName} onChange={set("firstName")} error={errors.first_name} autoComplete="given-name" required />
            <TextField label="Last name" value={v.lastName} onChange={set("lastName")} error={errors.last_name} autoComplete="family-name" required />
          </div>
          <TextField label="Username" value={v.username} onChange={set("username")} error={errors.username} autoComplete="username" required />
          <TextField label="Email" type="email" value={v.email} onChange={set("email")} error={errors.email} autoComplete="email" required />
          <div className="grid-2">
            <TextField label="Password" type="password" value={v.password} onChange={set("password")} error={errors.password} autoComplete="new-password" hint="8 to 256 characters, not your username or email" required />
            <TextField label="Confirm password" type="password" value={v.confirm} onChange={set("confirm")} error={errors.confirm} autoComplete="new-password" required />
          </div>
          <div className="grid-2">
            <TextField label="Institution (optional)" value={v.institution} onChange={set("institution")} autoComplete="organization" />
            <TextField label="Department (optional)" value={v.department} onChange={set("department")} />
          </div>
          <button type="submit" disabled={busy}>
            {busy ? "Creating the account…" : "Create account"}
          </button>
        </form>
        <p>
          Already registered? <Link to="/login">Sign in</Link>
        </p>
      </div>
    </main>
  );
}
