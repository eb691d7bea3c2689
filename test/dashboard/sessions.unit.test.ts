/** Dashboard sessions: a change needs the session's own CSRF token; an unused session expires. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { DashboardSessions, SESSION_IDLE_MS } from "../../src/dashboard/sessions.ts";

it("reads need a live session, changes also its CSRF token, and another session's token does not do", () => {
  const sessions = new DashboardSessions();
  const a = sessions.create();
  const b = sessions.create();
  assert.equal(sessions.authorizes(a.id, "GET", undefined), true);
  assert.equal(sessions.authorizes(a.id, "POST", undefined), false);
  assert.equal(sessions.authorizes(a.id, "POST", b.csrf), false);
  assert.equal(sessions.authorizes(a.id, "DELETE", a.csrf), true);
  assert.equal(sessions.authorizes("forged", "GET", undefined), false);
  sessions.delete(a.id);
  assert.equal(sessions.authorizes(a.id, "GET", undefined), false);
});

it("a session unused for the idle time is gone", () => {
  let now = 1_000_000;
  const sessions = new DashboardSessions(() => now);
  const s = sessions.create();
  now += SESSION_IDLE_MS - 1;
  assert.equal(sessions.authorizes(s.id, "GET", undefined), true, "use keeps it alive");
  now += SESSION_IDLE_MS + 1;
  assert.equal(sessions.authorizes(s.id, "GET", undefined), false);
});
