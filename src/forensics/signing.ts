import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256Text } from "./hash.js";

// The host's ed25519 key that signs bundle manifests and custody entries. Created at first use
// at STATE/forensics/signing.key (0600, PKCS#8 PEM) with the public key beside it (SPKI PEM).
// A key proves "made on the host that holds this key", so verify compares a bundle's key with
// this host's and says when they differ.

export interface SigningKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  fingerprint: string;
}

export function keyPaths(stateDir: string): { dir: string; privateKey: string; publicKey: string } {
  const dir = join(stateDir, "forensics");
  return { dir, privateKey: join(dir, "signing.key"), publicKey: join(dir, "signing.pub") };
}

/** Loads this host's signing key, creating it (and the directory) when there is none. */
export function loadOrCreateSigningKey(stateDir: string): SigningKey {
  const p = keyPaths(stateDir);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  let pem: string;
  try {
    pem = readFileSync(p.privateKey, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const { privateKey } = generateKeyPairSync("ed25519");
    pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    try {
      // wx: two first captures at once must not overwrite each other's key.
      writeFileSync(p.privateKey, pem, { mode: 0o600, flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      pem = readFileSync(p.privateKey, "utf8");
    }
  }
  const privateKey = createPrivateKey(pem);
  const publicKeyPem = createPublicKey(privateKey).export({ type: "spki", format: "pem" }) as string;
  writeFileSync(p.publicKey, publicKeyPem, { mode: 0o644 });
  return { privateKey, publicKeyPem, fingerprint: fingerprintOf(publicKeyPem) };
}

/** This host's public key, or undefined when no key was ever made. */
export function hostPublicKey(stateDir: string): string | undefined {
  try {
    return readFileSync(keyPaths(stateDir).publicKey, "utf8");
  } catch {
    return undefined;
  }
}

/** SHA-256 of the key's DER (SPKI) bytes, hex. */
export function fingerprintOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  return sha256Text(der);
}

export function signBytes(key: SigningKey, data: Buffer | string): string {
  return sign(null, Buffer.from(data), key.privateKey).toString("base64");
}

/** False for a bad signature and for a key or signature that cannot be parsed. */
export function verifyBytes(publicKeyPem: string, data: Buffer | string, signatureB64: string): boolean {
  try {
    return verify(null, Buffer.from(data), createPublicKey(publicKeyPem), Buffer.from(signatureB64.trim(), "base64"));
  } catch {
    return false;
  }
}
