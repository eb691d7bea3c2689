/**
 * Checks and describes the certificates of an SSL object (APISIX's fields `cert`/`key` and the extra
 * `certs`/`keys` pairs): every certificate of a chain parses and is issued by the next, the private key
 * matches its leaf certificate (RSA and ECDSA alike), and the answer describes what a user sees — the
 * fingerprint, the validity, the names covered — never the key. It also answers which certificate serves a
 * TLS server name (exact over `*.` wildcard). node:crypto only: the same code runs on Node, Bun and Deno.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";

/** A bad certificate or key; `field` names the input (`cert`, `key`, `certs[1]`, `keys[0]`…). */
export class CertificateError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = "CertificateError";
  }
}

export interface CertificateInfo {
  /** SHA-256 of the leaf certificate's DER, as `openssl x509 -fingerprint -sha256` prints it */
  fingerprint: string;
  /** notBefore and notAfter of the leaf, unix seconds */
  validity_start: number;
  validity_end: number;
  /** the DNS names of the subjectAltName, lower case; the subject CN when there are none */
  names: string[];
  /** `rsa`, `ec`, `ed25519`… (the leaf's public key) */
  key_type: string;
  subject: string;
  issuer: string;
  /** certificates in the chain, the leaf included */
  chain_length: number;
}

/** Checks one certificate chain and its key. `certField`/`keyField` name them in errors. */
export function checkCertificatePair(
  certPem: string,
  keyPem: string,
  certField = "cert",
  keyField = "key",
): CertificateInfo {
  const chain = parseChain(certPem, certField);
  const leaf = chain[0]!;
  const key = parsePrivateKey(keyPem, keyField);
  if (key.asymmetricKeyType !== leaf.publicKey.asymmetricKeyType) {
    throw new CertificateError(
      keyField,
      `a ${key.asymmetricKeyType} key does not match the ${leaf.publicKey.asymmetricKeyType} certificate in ${certField}`,
    );
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertificateError(keyField, `the private key does not match the certificate in ${certField}`);
  }
  return describe(leaf, chain.length);
}

export interface SslPairs {
  cert: string;
  key: string;
  certs?: readonly string[];
  keys?: readonly string[];
}

/**
 * Checks every pair of an SSL object: `cert` with `key`, then `certs[i]` with `keys[i]`. Returns the
 * description of each certificate, `cert` first.
 */
export function checkSslCertificates(ssl: SslPairs): CertificateInfo[] {
  const infos = [checkCertificatePair(ssl.cert, ssl.key)];
  const certs = ssl.certs ?? [];
  const keys = ssl.keys ?? [];
  if (certs.length !== keys.length) {
    const field = certs.length > keys.length ? "keys" : "certs";
    throw new CertificateError(field, `${keys.length} keys for ${certs.length} certs: each certs[i] needs keys[i]`);
  }
  for (let i = 0; i < certs.length; i++) {
    infos.push(checkCertificatePair(certs[i]!, keys[i]!, `certs[${i}]`, `keys[${i}]`));
  }
  return infos;
}

/**
 * Checks PEM text holding one or more certificates that need no key (a CA bundle): each parses. Returns
 * the description of each.
 */
export function checkCertificateBundle(pem: string, field = "ca"): CertificateInfo[] {
  const blocks = pemBlocks(pem, field);
  return blocks.map((block, i) => describe(parseOne(block, i, blocks.length, field), 1));
}

/**
 * The first of `snis` that none of the certificates' names covers (a client asking for it would be
 * served a certificate it cannot verify), or undefined. A `*.` entry of `snis` is covered by the same
 * wildcard name.
 */
export function uncoveredSni(snis: readonly string[], infos: readonly CertificateInfo[]): string | undefined {
  const names = infos.flatMap((info) => info.names);
  return snis.find((sni) => !names.some((name) => name.toLowerCase() === sni.toLowerCase() || nameCovers(name, sni)));
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function pemBlocks(pem: string, field: string): string[] {
  if (typeof pem !== "string" || pem.trim() === "") throw new CertificateError(field, "a PEM certificate is required");
  const blocks = pem.match(PEM_CERTIFICATE);
  if (!blocks) throw new CertificateError(field, "no PEM certificate (-----BEGIN CERTIFICATE-----) found");
  return blocks;
}

function parseOne(block: string, i: number, count: number, field: string): X509Certificate {
  try {
    return new X509Certificate(block);
  } catch (error) {
    const where = count > 1 ? `certificate ${i + 1} of the chain` : "the certificate";
    throw new CertificateError(field, `${where} does not parse (${(error as Error).message})`);
  }
}

function parseChain(pem: string, field: string): X509Certificate[] {
  const blocks = pemBlocks(pem, field);
  const chain = blocks.map((block, i) => parseOne(block, i, blocks.length, field));
  // Intermediates follow the leaf in issuing order, as nginx and APISIX expect them.
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) {
      throw new CertificateError(
        field,
        `certificate ${i + 2} of the chain did not issue certificate ${i + 1} (the chain must go from the leaf up)`,
      );
    }
  }
  return chain;
}

function parsePrivateKey(pem: string, field: string): KeyObject {
  if (typeof pem !== "string" || pem.trim() === "") throw new CertificateError(field, "a PEM private key is required");
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new CertificateError(field, "the private key is encrypted with a passphrase; give it unencrypted");
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new CertificateError(field, "no PEM private key (-----BEGIN PRIVATE KEY-----) found");
  }
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new CertificateError(field, `the private key does not parse (${(error as Error).message})`);
  }
}

function describe(leaf: X509Certificate, chainLength: number): CertificateInfo {
  return {
    fingerprint: leaf.fingerprint256,
    validity_start: Math.floor(Date.parse(leaf.validFrom) / 1000),
    validity_end: Math.floor(Date.parse(leaf.validTo) / 1000),
    names: namesOf(leaf),
    key_type: leaf.publicKey.asymmetricKeyType ?? "unknown",
    subject: leaf.subject,
    issuer: leaf.issuer,
    chain_length: chainLength,
  };
}

/** SAN DNS names (RFC 6125: when present, the CN is not looked at), else the subject's CN */
function namesOf(leaf: X509Certificate): string[] {
  const names: string[] = [];
  // Node prints `DNS:a, DNS:b, IP Address:…`; a name with a comma or quote is printed JSON-quoted.
  for (const entry of (leaf.subjectAltName ?? "").split(/, (?=[A-Za-z ]+:)/)) {
    if (!entry.startsWith("DNS:")) continue;
    const value = entry.slice(4);
    names.push((value.startsWith('"') ? (JSON.parse(value) as string) : value).toLowerCase());
  }
  if (names.length > 0) return names;
  for (const line of leaf.subject.split("\n")) {
    if (line.startsWith("CN=")) names.push(line.slice(3).toLowerCase());
  }
  return names;
}

/** a TLS server name as compared: lower case, without a trailing dot */
function normalise(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/**
 * Whether `pattern` (a certificate name or an SSL object's `snis` entry) covers `serverName`: equal
 * ignoring case, or `*.rest` covering exactly one more label (`*.example.com` covers `a.example.com`,
 * neither `example.com` nor `a.b.example.com`).
 */
export function nameCovers(pattern: string, serverName: string): boolean {
  const p = normalise(pattern);
  const name = normalise(serverName);
  if (!p.startsWith("*.")) return p === name;
  const dot = name.indexOf(".");
  return dot > 0 && name.slice(dot) === p.slice(1);
}

/** Whether any of `names` covers `serverName`, and how: `exact`, `wildcard`, or undefined. */
export function coverage(names: readonly string[], serverName: string): "exact" | "wildcard" | undefined {
  let wildcard = false;
  for (const pattern of names) {
    if (!nameCovers(pattern, serverName)) continue;
    if (!pattern.startsWith("*.")) return "exact";
    wildcard = true;
  }
  return wildcard ? "wildcard" : undefined;
}

/**
 * The candidate that serves `serverName`: the first one naming it exactly, else the first whose
 * wildcard covers it, else undefined. `namesOf` gives a candidate's names (its `snis`, or its
 * certificate's names).
 */
export function chooseForServerName<T>(
  candidates: readonly T[],
  serverName: string,
  namesOf: (candidate: T) => readonly string[],
): T | undefined {
  let byWildcard: T | undefined;
  for (const candidate of candidates) {
    const how = coverage(namesOf(candidate), serverName);
    if (how === "exact") return candidate;
    if (how === "wildcard" && byWildcard === undefined) byWildcard = candidate;
  }
  return byWildcard;
}
