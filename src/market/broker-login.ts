/**
 * The rules a community broker enforces (docs/market.md, "Threat model"; the same as the Mosquitto
 * templates in deploy/mosquitto): each member logs in as its peer id, its client id is its login,
 * and it may publish only on its own topics and read only its community's. The embedded broker
 * checks the login against the members' public keys: the password is a login token signed with
 * the member's key, fresh (minutes) and used once, so the members file is the only secret store.
 */
import { randomBytes, verify } from 'node:crypto';
import type { Membership } from './community.ts';
import { signBytes, type Identity } from './identity.ts';
import { PROTOCOL_ROOT, earlierPresenceFilters, parseTopic } from './topics.ts';

/** How far a login token's time may be from the broker's (clock skew plus connection time). */
const LOGIN_WINDOW_MS = 5 * 60_000;

const signedText = (communityId: string, peerId: string, atMs: number, nonce: string) => `pe-login/${communityId}/${peerId}/${atMs}/${nonce}`;

/** The password a member logs in with at an embedded community broker: `<ms>.<nonce>.<signature>`, each one different. */
export function loginToken(identity: Identity, communityId: string, nowMs: number): string {
  const atMs = Math.round(nowMs);
  const nonce = randomBytes(12).toString('base64url');
  return `${atMs}.${nonce}.${signBytes(identity, Buffer.from(signedText(communityId, identity.peerId, atMs, nonce)))}`;
}

/** The broker's side: logins, and what each login may publish and subscribe to. */
export class CommunityBrokerRules {
  /** Tokens taken, until they are too old to be taken anyway. */
  private readonly used = new Map<string, number>();

  constructor(private readonly membership: Membership) {}

  /** Why this CONNECT is refused; undefined to accept it. */
  refuseLogin(clientId: string, username: string | undefined, password: Buffer | undefined, willTopic: string | undefined, nowMs: number): string | undefined {
    if (username === undefined || password === undefined) return 'a login is required';
    const key = this.membership.keyOf(username);
    if (key === undefined) return `${username} is not a member`;
    if (clientId !== username) return `the client id must be the login (${username})`;
    const [atText, nonce, signature] = password.toString('utf8').split('.');
    const atMs = Number(atText);
    if (!Number.isSafeInteger(atMs) || nonce === undefined || signature === undefined || Math.abs(nowMs - atMs) > LOGIN_WINDOW_MS) return 'the login token is malformed or not fresh';
    if (!verify(null, Buffer.from(signedText(this.membership.communityId, username, atMs, nonce)), key, Buffer.from(signature, 'base64url'))) return 'the login token is not signed by the member';
    for (const [token, takenMs] of this.used) if (nowMs - takenMs > 2 * LOGIN_WINDOW_MS) this.used.delete(token);
    if (this.used.has(signature)) return 'the login token was used before';
    if (willTopic !== undefined && !this.mayPublish(username, willTopic)) return `a will on ${willTopic} is not the member's`;
    this.used.set(signature, nowMs);
    return undefined;
  }

  /** Only on the member's own topics of this community: every topic ends with its sender's id. */
  mayPublish(username: string, topic: string): boolean {
    const place = parseTopic(topic);
    return place !== undefined && place.communityId === this.membership.communityId && place.from === username;
  }

  /** Only within this community's tree, and its presence on the earlier roots (to name members not yet updated). */
  maySubscribe(topic: string): boolean {
    const root = `${PROTOCOL_ROOT}/${this.membership.communityId}`;
    return topic.startsWith(`${root}/`) || earlierPresenceFilters(this.membership.communityId).includes(topic);
  }
}
