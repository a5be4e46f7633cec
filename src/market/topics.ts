/**
 * The topic tree, versioned by its root so an incompatible protocol runs on the same broker beside
 * an earlier one. Every topic ends with the sending peer's id, which must equal the envelope's
 * `from`: a broker ACL can then restrict each gateway to publishing under its own id (docs/market.md).
 *
 *   pe/v3/<community>/presence/<peer>            retained; the last will sets it offline
 *   pe/v3/<community>/offer/<slotStartMs>/<peer> a seller's offer for one slot (expiring)
 *   pe/v3/<community>/accept/<peer>              a buyer's acceptance (re-sent until decided)
 *   pe/v3/<community>/confirm/<peer>             a seller's decision: committed or aborted
 *   pe/v3/<community>/round/<name>/<peer>        clearing rounds; the body is the clearing layer's
 *
 * pe/v2: the sharing clearing's long vectors travel as base64 doubles (clearing/wire-vector.ts).
 * pe/v3: the live community guard's report carries the member's import so far in the hour
 * (runtime/live-guard.ts, a required field): the guard holds the hour's energy.
 */
export const PROTOCOL_ROOT = 'pe/v3';

/** Earlier, incompatible roots: a member still announcing itself on one cannot trade with this version, and is named. */
const EARLIER_ROOTS = ['pe/v2', 'pe/v1'];

export const MESSAGE_KINDS = ['presence', 'offer', 'accept', 'confirm', 'round'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** Levels between the kind and the sender, per kind. */
const MIDDLE_LEVELS: Record<MessageKind, number> = { presence: 0, offer: 1, accept: 0, confirm: 0, round: 1 };

export function communityFilter(communityId: string): string {
  return `${PROTOCOL_ROOT}/${communityId}/#`;
}

/** `middle` is the slot start for offers and the round name for rounds; nothing otherwise. */
export function topicFor(communityId: string, kind: MessageKind, from: string, middle?: string | number): string {
  const levels = [PROTOCOL_ROOT, communityId, kind];
  if (MIDDLE_LEVELS[kind] === 1) {
    if (middle === undefined) throw new Error(`a ${kind} topic needs a ${kind === 'offer' ? 'slot' : 'round name'} level`);
    levels.push(String(middle));
  }
  levels.push(from);
  return levels.join('/');
}

export interface ParsedTopic {
  communityId: string;
  kind: MessageKind;
  middle?: string;
  from: string;
}

export function parseTopic(topic: string, root = PROTOCOL_ROOT): ParsedTopic | undefined {
  const levels = topic.split('/');
  const rootLevels = root.split('/').length;
  if (levels.slice(0, rootLevels).join('/') !== root) return undefined;
  const [communityId, kindLevel, ...rest] = levels.slice(rootLevels);
  const kind = MESSAGE_KINDS.find((k) => k === kindLevel);
  if (communityId === undefined || kind === undefined || rest.length !== MIDDLE_LEVELS[kind] + 1) return undefined;
  const from = rest[rest.length - 1]!;
  return MIDDLE_LEVELS[kind] === 1 ? { communityId, kind, middle: rest[0]!, from } : { communityId, kind, from };
}

/** The presence topics of the earlier roots, whose members a gateway listens for to name them. */
export function earlierPresenceFilters(communityId: string): string[] {
  return EARLIER_ROOTS.map((root) => `${root}/${communityId}/presence/+`);
}

/** The root and the peer of a presence on an earlier root, if the topic is one. */
export function parseEarlierPresence(topic: string): { root: string; from: string } | undefined {
  for (const root of EARLIER_ROOTS) {
    const parsed = parseTopic(topic, root);
    if (parsed?.kind === 'presence') return { root, from: parsed.from };
  }
  return undefined;
}
