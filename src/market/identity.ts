import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isValidId, ID_PATTERN } from './community.ts';

/** A gateway's signing identity. `publicKey` is what the community configuration lists. */
export interface Identity {
  peerId: string;
  /** Raw Ed25519 public key, base64url. */
  publicKey: string;
  privateKey: KeyObject;
}

export function generateIdentity(peerId: string): Identity {
  if (!isValidId(peerId)) throw new Error(`peer id "${peerId}" must match ${ID_PATTERN}`);
  const { privateKey } = generateKeyPairSync('ed25519');
  return identityFromPrivateKey(peerId, privateKey);
}

function identityFromPrivateKey(peerId: string, privateKey: KeyObject): Identity {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error(`key of ${peerId} is not an Ed25519 key`);
  return { peerId, publicKey: jwk.x, privateKey };
}

/** Writes the identity as JSON with a PKCS#8 PEM private key, readable by the owner only. */
export function saveIdentity(identity: Identity, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const pem = identity.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  writeFileSync(path, JSON.stringify({ peerId: identity.peerId, privateKeyPem: pem }, null, 2), { mode: 0o600 });
}

export function loadIdentity(path: string): Identity {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { peerId?: unknown; privateKeyPem?: unknown };
  if (typeof parsed.peerId !== 'string' || typeof parsed.privateKeyPem !== 'string') {
    throw new Error(`${path}: expected {"peerId", "privateKeyPem"}`);
  }
  if (!isValidId(parsed.peerId)) throw new Error(`${path}: peer id "${parsed.peerId}" must match ${ID_PATTERN}`);
  return identityFromPrivateKey(parsed.peerId, createPrivateKey(parsed.privateKeyPem));
}

export function signBytes(identity: Identity, data: Buffer): string {
  return sign(null, data, identity.privateKey).toString('base64url');
}
