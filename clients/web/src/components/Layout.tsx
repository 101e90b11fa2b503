// The frame of every signed-in page: navigation, the live notification
// bell, sign-out.
import { useEffect, useState, type ReactNode } from "react";
import { Link, NavLink, useLocation, useNavigate } from "react-router";
import { Role } from "@fip/client/gen/fip/user/v1/role_pb";
import { api, session, useSession } from "../app/api";
import { useStream } from "../app/hooks";
import { applyNotificationEvent, resetInbox, useInbox } from "../app/notifications";

export function isAdmin(roles: Role[] | undefined): boolean {
  return !!roles?.includes(Role.ADMIN);
}

export function canManageCatalog(roles: Role[] | undefined): boolean {
  return !!roles?.some((r) => r === Role.ADMIN || r === Role.SERVICE_ADMIN);
}

function Bell() {
  const { unread } = useInbox();
  return (
    <NavLink
      to="/notifications"
      className="bell"
      aria-label={unread > 0 ? `Notifications, ${unread} unread` : "Notifications, none unread"}
    >
      <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20">
        <path
          fill="currentColor"
          d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
        />
      </svg>
      <span className="bell-text">Notifications</span>
      {unread > 0 && (
        <span className="bell-count" data-testid="unread-count">
          {unread}
        </span>
      )}
    </NavLink>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const navigate = useNavigate();
  useEffect(() => setMenuOpen(false), [location.pathname]);
  useStream(
    user ? (signal) => api.notifications.watchNotifications({}, { signal }) : undefined,
    applyNotificationEvent,
    [user?.id],
    { reopenOnEnd: true },
  );
  useEffect(() => {
    if (!user) resetInbox();
  }, [user]);
  const links: [string, string][] = [
    ["/", "Dashboard"],
    ["/jobs/new", "New job"],
    ["/jobs", "Jobs"],
    ["/services", "Services"],
    ["/settings/services", "Credentials"],
    ["/profile", "Profile"],
  ];
  if (isAdmin(user?.roles)) links.push(["/admin", "Admin"]);
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          <span className="brand-mark" aria-hidden="true">
            FIP
          </span>
          <span className="brand-name">Federated Imputation</span>
        </Link>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? "nav nav-open" : "nav"}>
          <ul>
            {links.map(([to, label]) => (
              <li key={to}>
                <NavLink to={to} end={to === "/" || to === "/jobs"}>
                  {label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <Bell />
          <button
            type="button"
            className="button-secondary signout"
            onClick={async () => {
              await session.logout(false);
              navigate("/login", { replace: true });
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
