/**
 * Which certificate a terminating route needs, checked where routes and certificates meet: at publish
 * (a route no certificate serves is refused) and when a certificate changes or goes (one a published
 * route needs stays). A gateway picks a route's certificate by its `sni` among the group's certificates'
 * `snis`, exact over wildcard (`chooseForServerName`); a terminating route without `sni` (clients that
 * send none) is served the group's first certificate, so it needs one to exist.
 */
import { chooseForServerName } from "./certificate.ts";

export interface TerminatingRoute {
  name: string;
  id: string;
  sni?: string;
  tls?: "passthrough" | "terminate";
}

export interface GroupCertificate {
  id: string;
  snis: readonly string[];
}

/** the first terminating route no certificate serves, with the name it needs, or undefined */
export function findUnservedRoute<R extends TerminatingRoute>(
  routes: readonly R[],
  certificates: readonly GroupCertificate[],
): { route: R; name: string } | undefined {
  for (const route of routes) {
    if (route.tls !== "terminate") continue;
    if (route.sni === undefined) {
      if (certificates.length === 0) return { route, name: "(no SNI: the group's first certificate)" };
      continue;
    }
    if (!chooseForServerName(certificates, route.sni, (c) => c.snis)) return { route, name: route.sni };
  }
  return undefined;
}
