import { createPublicKey, type KeyObject } from 'node:crypto';

/** Peer ids and community ids appear as MQTT topic levels, so wildcards and separators are excluded. */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const idRegex = new RegExp(ID_PATTERN);

export interface CommunityMember {
  peerId: string;
  /** Raw Ed25519 public key, base64url (32 bytes); see `generateIdentity`. */
  publicKey: string;
}

/** The community's configuration: who may trade, identified by public key. */
export interface CommunityConfig {
  communityId: string;
  members: CommunityMember[];
}

/** Parsed, checked membership: peer id → verification key. */
export class Membership {
  private readonly keys = new Map<string, KeyObject>();

  constructor(readonly config: CommunityConfig) {
    if (!idRegex.test(config.communityId)) throw new Error(`community id "${config.communityId}" must match ${ID_PATTERN}`);
    for (const member of config.members) {
      if (!idRegex.test(member.peerId)) throw new Error(`peer id "${member.peerId}" must match ${ID_PATTERN}`);
      if (this.keys.has(member.peerId)) throw new Error(`peer id "${member.peerId}" is listed twice in community ${config.communityId}`);
      this.keys.set(member.peerId, publicKeyFromBase64url(member.publicKey));
    }
  }

  get communityId(): string {
    return this.config.communityId;
  }

  keyOf(peerId: string): KeyObject | undefined {
    return this.keys.get(peerId);
  }

  peerIds(): string[] {
    return [...this.keys.keys()];
  }
}

export function isValidId(id: string): boolean {
  return idRegex.test(id);
}

function publicKeyFromBase64url(publicKey: string): KeyObject {
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
  } catch (error) {
    throw new Error(`not an Ed25519 public key (base64url of 32 bytes): ${publicKey}`, { cause: error });
  }
}
