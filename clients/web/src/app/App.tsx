// Routes. Signed-out visitors are sent to sign in and then back to where
// they were going; a session that ends (expired, revoked, signed out in
// another tab) does the same, saying why.
import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";
import { session, useSession } from "./api";
import { Layout } from "../components/Layout";
import { Loading } from "../components/ui";
import { LoginPage, RegisterPage } from "../pages/Auth";
import { DashboardPage } from "../pages/Dashboard";
import { JobsPage } from "../pages/Jobs";
import { NewJobPage } from "../pages/NewJob";
import { CredentialsPage } from "../pages/Credentials";

// Pages a researcher opens less often load on demand.
const JobDetailPage = lazy(() => import("../pages/JobDetail"));
const ServicesPage = lazy(() => import("../pages/Services"));
const NotificationsPage = lazy(() => import("../pages/Notifications"));
const ProfilePage = lazy(() => import("../pages/Profile"));
const AdminPage = lazy(() => import("../pages/Admin"));

/**
 * Sends a signed-out visitor to sign in and back; when the session just
 * ended (expired, revoked, signed out in another tab) the sign-in page says
 * why.
 */
function RequireSession({ children }: { children: ReactNode }) {
  const { user, ended } = useSession();
  const location = useLocation();
  if (!user) {
    const next = location.pathname + location.search;
    const why = ended && ended !== "signed_out" ? `&ended=${ended}` : "";
    return <Navigate to={`/login?next=${encodeURIComponent(next)}${why}`} replace />;
  }
  return (
    <Layout>
      <Suspense fallback={<Loading what="the page" />}>{children}</Suspense>
    </Layout>
  );
}

export function AppRoutes() {
  return (
    <>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route path="/register" element={<RegisterPage />} />
        <Route path="/" element={<RequireSession><DashboardPage /></RequireSession>} />
        <Route path="/jobs" element={<RequireSession><JobsPage /></RequireSession>} />
        <Route path="/jobs/new" element={<RequireSession><NewJobPage /></RequireSession>} />
        <Route path="/jobs/:id" element={<RequireSession><JobDetailPage /></RequireSession>} />
        <Route path="/services" element={<RequireSession><ServicesPage /></RequireSession>} />
        <Route path="/settings/services" element={<RequireSession><CredentialsPage /></RequireSession>} />
        <Route path="/settings/services/:serviceId" element={<RequireSession><CredentialsPage /></RequireSession>} />
        <Route path="/notifications" element={<RequireSession><NotificationsPage /></RequireSession>} />
        <Route path="/profile" element={<RequireSession><ProfilePage /></RequireSession>} />
        <Route path="/admin" element={<RequireSession><AdminPage /></RequireSession>} />
        <Route path="*" element={<RequireSession><NotFound /></RequireSession>} />
      </Routes>
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>Nothing lives at this address. Use the navigation above.</p>
    </section>
  );
}

export function App() {
  const [booted, setBooted] = useState(false);
  useEffect(() => {
    // A stored refresh token resumes the session before any page renders.
    session
      .resume()
      .catch(() => undefined)
      .finally(() => setBooted(true));
  }, []);
  if (!booted) return <Loading what="your session" />;
  return (
    <BrowserRouter>
      <AppRoutes />
    </BrowserRouter>
  );
}
