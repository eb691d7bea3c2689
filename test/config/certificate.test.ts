/**
 * Certificate checks against certificates made by the real `openssl` in a temporary directory: RSA and
 * ECDSA pairs, a wildcard, a CN-only certificate, an expired one (signed with `openssl ca` and dates in
 * 2020), a leaf → intermediate → root chain in both orders, mismatched and encrypted keys, and garbage.
 * Fingerprints and dates are compared with what `openssl x509` prints for the same file.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  CertificateError,
  checkCertificatePair,
  checkSslCertificates,
  chooseForServerName,
  coverage,
  nameCovers,
} from "../../src/config/certificate.ts";

let dir = "";
const pem: Record<string, string> = {};

function openssl(...args: string[]): string {
  return execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** a self-signed certificate and its key, named `name` */
function selfSigned(name: string, keyArgs: string[], subject: string, extensions: string[] = []) {
  openssl(
    "req",
    "-x509",
    ...keyArgs,
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "30",
    "-subj",
    subject,
    ...extensions.flatMap((e) => ["-addext", e]),
  );
}

const RSA = ["-newkey", "rsa:2048"];
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-certs-"));
  selfSigned("rsa", RSA, "/CN=example.com", ["subjectAltName=DNS:example.com,DNS:*.Example.com,IP:127.0.0.1"]);
  selfSigned("ec", EC, "/CN=ec.test");
  selfSigned("rsa2", RSA, "/CN=other.test");
  // expired: `openssl ca` sets explicit dates (OpenSSL 3.0's req has no -not_after)
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "01\n");
  writeFileSync(
    join(dir, "ca.cnf"),
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${dir}/index.txt\nnew_certs_dir = ${dir}\nserial = ${dir}/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n`,
  );
  openssl("req", "-new", ...EC, "-nodes", "-keyout", "old.key", "-out", "old.csr", "-subj", "/CN=old.test");
  openssl(
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-selfsign",
    "-keyfile",
    "old.key",
    "-in",
    "old.csr",
    "-out",
    "old.crt",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200201000000Z",
    "-notext",
  );
  // a chain: root → intermediate → leaf
  writeFileSync(join(dir, "ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n");
  writeFileSync(join(dir, "leaf.ext"), "subjectAltName=DNS:api.chain.test\n");
  selfSigned("root", EC, "/CN=Sluice Test Root", ["basicConstraints=critical,CA:TRUE"]);
  openssl(
    "req",
    "-new",
    ...EC,
    "-nodes",
    "-keyout",
    "mid.key",
    "-out",
    "mid.csr",
    "-subj",
    "/CN=Sluice Test Intermediate",
  );
  openssl(
    "x509",
    "-req",
    "-in",
    "mid.csr",
    "-CA",
    "root.crt",
    "-CAkey",
    "root.key",
    "-CAcreateserial",
    "-out",
    "mid.crt",
    "-days",
    "30",
    "-extfile",
    "ca.ext",
  );
  openssl("req", "-new", ...RSA, "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=api.chain.test");
  openssl(
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "mid.crt",
    "-CAkey",
    "mid.key",
    "-CAcreateserial",
    "-out",
    "leaf.crt",
    "-days",
    "30",
    "-extfile",
    "leaf.ext",
  );
  openssl("pkey", "-in", "rsa.key", "-aes256", "-passout", "pass:secret", "-out", "encrypted.key");
  for (const name of ["rsa", "ec", "rsa2", "old", "root", "mid", "leaf"]) {
    pem[`${name}.crt`] = readFileSync(join(dir, `${name}.crt`), "utf8");
    pem[`${name}.key`] = readFileSync(join(dir, `${name}.key`), "utf8");
  }
  pem["encrypted.key"] = readFileSync(join(dir, "encrypted.key"), "utf8");
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** the error a check throws: its field and message */
function failure(run: () => unknown): CertificateError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof CertificateError, `a CertificateError, got ${error}`);
    return error;
  }
  assert.fail("expected the check to fail");
}

/** what `openssl x509` says about a certificate file */
function opensslView(file: string) {
  const out = openssl("x509", "-in", file, "-noout", "-fingerprint", "-sha256", "-startdate", "-enddate");
  const value = (key: string) => out.match(new RegExp(`${key}=(.*)`))![1]!.trim();
  return {
    fingerprint: value("sha256 Fingerprint"),
    start: Date.parse(value("notBefore")) / 1000,
    end: Date.parse(value("notAfter")) / 1000,
  };
}

describe("a certificate and its key", () => {
  test("RSA with SANs: fingerprint and dates as openssl prints them; the SAN DNS names, lower case", () => {
    const info = checkCertificatePair(pem["rsa.crt"]!, pem["rsa.key"]!);
    const seen = opensslView("rsa.crt");
    assert.equal(info.fingerprint, seen.fingerprint);
    assert.equal(info.validity_start, seen.start);
    assert.equal(info.validity_end, seen.end);
    assert.deepEqual(info.names, ["example.com", "*.example.com"]);
    assert.equal(info.key_type, "rsa");
    assert.equal(info.chain_length, 1);
    assert.ok(!JSON.stringify(info).includes("PRIVATE"), "no key in the answer");
  });

  test("ECDSA without SANs: the subject CN is the name covered", () => {
    const info = checkCertificatePair(pem["ec.crt"]!, pem["ec.key"]!);
    assert.deepEqual(info.names, ["ec.test"]);
    assert.equal(info.key_type, "ec");
    assert.equal(info.fingerprint, opensslView("ec.crt").fingerprint);
  });

  test("an expired certificate is described (its end in 2020), not refused: the expiry metric warns", () => {
    const info = checkCertificatePair(pem["old.crt"]!, pem["old.key"]!);
    assert.equal(info.validity_start, Date.UTC(2020, 0, 1) / 1000);
    assert.equal(info.validity_end, Date.UTC(2020, 1, 1) / 1000);
  });

  test("a key of another certificate, or of another type, does not match", () => {
    assert.equal(
      failure(() => checkCertificatePair(pem["rsa.crt"]!, pem["rsa2.key"]!)).message,
      "key: the private key does not match the certificate in cert",
    );
    const other = failure(() => checkCertificatePair(pem["rsa.crt"]!, pem["ec.key"]!));
    assert.equal(other.field, "key");
    assert.equal(other.message, "key: a ec key does not match the rsa certificate in cert");
  });

  test("garbage, a key in place of the certificate, a corrupt PEM body, an encrypted key", () => {
    assert.match(failure(() => checkCertificatePair("hello", pem["rsa.key"]!)).message, /^cert: no PEM certificate/);
    assert.match(
      failure(() => checkCertificatePair("", pem["rsa.key"]!)).message,
      /^cert: a PEM certificate is required/,
    );
    assert.match(
      failure(() => checkCertificatePair(pem["rsa.key"]!, pem["rsa.key"]!)).message,
      /^cert: no PEM certificate/,
    );
    const corrupt = pem["rsa.crt"]!.replace(/\n[A-Za-z0-9+/]{20}/, "\n!!!!corrupt!!!!corrupt");
    assert.match(
      failure(() => checkCertificatePair(corrupt, pem["rsa.key"]!)).message,
      /^cert: the certificate does not parse/,
    );
    assert.match(failure(() => checkCertificatePair(pem["rsa.crt"]!, "hello")).message, /^key: no PEM private key/);
    assert.match(
      failure(() => checkCertificatePair(pem["rsa.crt"]!, pem["rsa.crt"]!)).message,
      /^key: no PEM private key/,
    );
    const truncatedKey = pem["rsa.key"]!.replace(/\n[A-Za-z0-9+/=]+\n-----END/, "\n-----END");
    assert.match(
      failure(() => checkCertificatePair(pem["rsa.crt"]!, truncatedKey)).message,
      /^key: the private key does not parse/,
    );
    assert.match(
      failure(() => checkCertificatePair(pem["rsa.crt"]!, pem["encrypted.key"]!)).message,
      /^key: the private key is encrypted/,
    );
  });
});

describe("chains", () => {
  test("leaf then intermediate: accepted, the leaf described", () => {
    const info = checkCertificatePair(pem["leaf.crt"]! + pem["mid.crt"]!, pem["leaf.key"]!);
    assert.equal(info.chain_length, 2);
    assert.deepEqual(info.names, ["api.chain.test"]);
    assert.equal(info.fingerprint, opensslView("leaf.crt").fingerprint);
    assert.equal(
      checkCertificatePair(pem["leaf.crt"]! + pem["mid.crt"]! + pem["root.crt"]!, pem["leaf.key"]!).chain_length,
      3,
    );
  });

  test("out of order, or an unrelated certificate in the chain: refused, naming the position", () => {
    assert.equal(
      failure(() => checkCertificatePair(pem["mid.crt"]! + pem["leaf.crt"]!, pem["mid.key"]!)).message,
      "cert: certificate 2 of the chain did not issue certificate 1 (the chain must go from the leaf up)",
    );
    assert.match(
      failure(() => checkCertificatePair(pem["leaf.crt"]! + pem["mid.crt"]! + pem["rsa.crt"]!, pem["leaf.key"]!))
        .message,
      /certificate 3 of the chain did not issue certificate 2/,
    );
  });
});

describe("an SSL object's pairs (cert/key, certs[i]/keys[i])", () => {
  test("an RSA and an ECDSA pair side by side", () => {
    const infos = checkSslCertificates({
      cert: pem["rsa.crt"]!,
      key: pem["rsa.key"]!,
      certs: [pem["ec.crt"]!],
      keys: [pem["ec.key"]!],
    });
    assert.deepEqual(
      infos.map((i) => i.key_type),
      ["rsa", "ec"],
    );
  });

  test("errors name the array element", () => {
    const bad = failure(() =>
      checkSslCertificates({
        cert: pem["rsa.crt"]!,
        key: pem["rsa.key"]!,
        certs: [pem["ec.crt"]!, pem["rsa2.crt"]!],
        keys: [pem["ec.key"]!, pem["rsa.key"]!],
      }),
    );
    assert.equal(bad.field, "keys[1]");
    assert.equal(bad.message, "keys[1]: the private key does not match the certificate in certs[1]");
    assert.equal(
      failure(() =>
        checkSslCertificates({ cert: pem["rsa.crt"]!, key: pem["rsa.key"]!, certs: ["junk"], keys: [pem["ec.key"]!] }),
      ).field,
      "certs[0]",
    );
    assert.equal(
      failure(() => checkSslCertificates({ cert: pem["rsa.crt"]!, key: pem["rsa.key"]!, certs: [pem["ec.crt"]!] }))
        .message,
      "keys: 0 keys for 1 certs: each certs[i] needs keys[i]",
    );
  });
});

describe("server names", () => {
  test("exact names match ignoring case and a trailing dot", () => {
    assert.ok(nameCovers("example.com", "EXAMPLE.com"));
    assert.ok(nameCovers("Example.COM", "example.com."));
    assert.ok(!nameCovers("example.com", "www.example.com"));
  });

  test("a wildcard covers one label only, never the bare domain", () => {
    assert.ok(nameCovers("*.example.com", "a.example.com"));
    assert.ok(nameCovers("*.example.com", "A.Example.Com"));
    assert.ok(!nameCovers("*.example.com", "example.com"));
    assert.ok(!nameCovers("*.example.com", "a.b.example.com"));
    assert.ok(!nameCovers("*.example.com", ".example.com"));
    assert.ok(!nameCovers("*.example.com", "aexample.com"));
  });

  test("a certificate's names: exact, wildcard, or not covered", () => {
    const { names } = checkCertificatePair(pem["rsa.crt"]!, pem["rsa.key"]!);
    assert.equal(coverage(names, "example.com"), "exact");
    assert.equal(coverage(names, "www.example.com"), "wildcard");
    assert.equal(coverage(names, "www.example.org"), undefined);
    assert.equal(coverage(names, "127.0.0.1"), undefined, "an IP SAN is not a server name");
  });

  test("choosing among several: exact over wildcard whatever the order, the first of equals, none when uncovered", () => {
    const ssls = [
      { id: "wild", snis: ["*.example.com"] },
      { id: "api", snis: ["api.example.com"] },
      { id: "wild-2", snis: ["*.example.com", "other.test"] },
    ];
    const pick = (name: string) => chooseForServerName(ssls, name, (s) => s.snis)?.id;
    assert.equal(pick("api.example.com"), "api");
    assert.equal(pick("www.example.com"), "wild");
    assert.equal(pick("other.test"), "wild-2");
    assert.equal(pick("example.com"), undefined);
    const byCertificate = [
      checkCertificatePair(pem["ec.crt"]!, pem["ec.key"]!),
      checkCertificatePair(pem["rsa.crt"]!, pem["rsa.key"]!),
    ];
    assert.equal(chooseForServerName(byCertificate, "shop.example.com", (c) => c.names)?.key_type, "rsa");
    assert.equal(chooseForServerName(byCertificate, "EC.test", (c) => c.names)?.key_type, "ec");
  });
});
