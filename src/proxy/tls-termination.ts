/**
 * TLS termination on stream routes with `tls: "terminate"`: which of the group's certificates a
 * connection gets (the one covering the client's SNI, exact over wildcard; a route without `sni` and a
 * client without SNI get the group's first certificate), and the handshake through the adapter after
 * the SNI peek. Certificates are compiled into adapter identities once per config; an unchanged
 * certificate keeps its identity (and so the adapter's TLS context) across applies, a replaced one gets
 * a new one, used from the next handshake on.
 */
import { chooseForServerName } from "../config/certificate.ts";
import type { CompiledSsl } from "../config/types.ts";
import type { SocketAdapter, TcpConnection, TlsHandshakeError, TlsServerIdentity } from "./adapter.ts";

interface ServedCertificate {
  readonly snis: readonly string[];
  readonly identity: TlsServerIdentity;
  readonly fingerprint: string;
  readonly validityEnd: number;
}

export class ServerCertificates {
  private readonly served: readonly ServedCertificate[];

  constructor(ssls: readonly CompiledSsl[], previous: ServerCertificates | undefined) {
    const reusable = new Map(previous?.served.map((c) => [c.fingerprint, c.identity]));
    this.served = ssls.map((ssl) => {
      const fingerprint = JSON.stringify([ssl.cert, ssl.key, ssl.certs, ssl.keys, ssl.client, ssl.ssl_protocols]);
      const identity: TlsServerIdentity = reusable.get(fingerprint) ?? {
        pairs: [{ cert: ssl.cert, key: ssl.key }, ...ssl.certs.map((cert, i) => ({ cert, key: ssl.keys[i] ?? "" }))],
        client: ssl.client,
        protocols: ssl.ssl_protocols.length > 0 ? ssl.ssl_protocols : ["TLSv1.2", "TLSv1.3"],
      };
      return { snis: ssl.snis, identity, fingerprint, validityEnd: ssl.validity_end };
    });
  }

  /** the identity for a client that sent `sni` (or none) on a terminating route with `routeSni` (or none) */
  identityFor(sni: string | undefined, routeSni: boolean): TlsServerIdentity | undefined {
    if (sni !== undefined) {
      const chosen = chooseForServerName(this.served, sni, (c) => c.snis);
      if (chosen) return chosen.identity;
    }
    return routeSni ? undefined : this.served[0]?.identity;
  }

  /** each served name and its certificate's notAfter (unix seconds), for the expiry metric */
  expiries(): { sni: string; notAfter: number }[] {
    return this.served.flatMap((c) => c.snis.map((sni) => ({ sni, notAfter: c.validityEnd })));
  }
}

/** Why a client's TLS was refused: its code for metrics and the access log, a cause label and the reason. */
export interface TlsRefusal {
  code: number;
  cause: string;
  reason: string;
}

/** The most time a client gets to finish its handshake after the ClientHello. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Runs the server handshake on `client` with the certificate for `sni`; `replay` is what the SNI peek
 * read. Resolves with the decrypted connection, or with why it was refused (the client is then closed).
 */
export async function terminateTls(
  adapter: SocketAdapter,
  certificates: ServerCertificates,
  client: TcpConnection,
  sni: string | undefined,
  routeSni: boolean,
  replay: Uint8Array | undefined,
): Promise<TcpConnection | TlsRefusal> {
  const identity = certificates.identityFor(sni, routeSni);
  if (identity === undefined) {
    client.destroy();
    return { code: 500, cause: "no_certificate", reason: `no certificate of the group covers '${sni ?? ""}'` };
  }
  try {
    return await adapter.startServerTls(client, { identity, replay, timeoutMs: TLS_HANDSHAKE_TIMEOUT_MS });
  } catch (error) {
    const failure = error as TlsHandshakeError;
    const cause = failure.cause_label ?? "handshake";
    // a client certificate that does not verify is an access decision (403), like ip-restriction's
    return { code: cause === "client_certificate" ? 403 : 400, cause, reason: failure.message };
  }
}

export function isRefusal(result: TcpConnection | TlsRefusal): result is TlsRefusal {
  return "cause" in result;
}
