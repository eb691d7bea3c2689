/**
 * Dashboard sign-in sessions, kept in this process's memory: the browser holds only a random id in an
 * HttpOnly, SameSite=Strict cookie, never the admin key. Each session has its own CSRF token that every
 * state-changing request must echo in a header (double submit: a cross-site page can neither read the
 * token nor set the header). A restart signs everyone out, which is the safe default for an admin tool.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "sluice_session";
export const CSRF_HEADER = "x-csrf-token";
/** a session unused this long is dropped */
export const SESSION_IDLE_MS = 8 * 3600_000;
const MAX_SESSIONS = 1000;

interface Session {
  csrf: string;
  lastUsed: number;
}

export class DashboardSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  create(): { id: string; csrf: string } {
    this.prune();
    // the oldest session makes room: a flood of sign-ins cannot grow memory without bound
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString("base64url");
    const csrf = randomBytes(24).toString("base64url");
    this.sessions.set(id, { csrf, lastUsed: this.now() });
    return { id, csrf };
  }

  /** the session's CSRF token when `id` names a live session (and marks it used) */
  csrfFor(id: string | undefined): string | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (this.now() - session.lastUsed > SESSION_IDLE_MS) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastUsed = this.now();
    return session.csrf;
  }

  /** a live session, and for a change also the matching CSRF token */
  authorizes(id: string | undefined, method: string, csrfHeader: string | undefined): boolean {
    const csrf = this.csrfFor(id);
    if (csrf === undefined) return false;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return true;
    return csrfHeader !== undefined && sameText(csrf, csrfHeader);
  }

  delete(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (now - s.lastUsed > SESSION_IDLE_MS) this.sessions.delete(id);
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
