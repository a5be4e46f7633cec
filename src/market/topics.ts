/**
 * The topic tree, versioned by its root so a future incompatible protocol (pe/v2) can run on
 * the same broker beside this one. Every topic ends with the sending peer's id, which must
 * equal the envelope's `from`: a broker ACL can then restrict each gateway to publishing under
 * its own id (docs/market.md).
 *
 *   pe/v1/<community>/presence/<peer>            retained; the last will sets it offline
 *   pe/v1/<community>/offer/<slotStartMs>/<peer> a seller's offer for one slot (expiring)
 *   pe/v1/<community>/accept/<peer>              a buyer's acceptance (re-sent until decided)
 *   pe/v1/<community>/confirm/<peer>             a seller's decision: committed or aborted
 *   pe/v1/<community>/round/<name>/<peer>        clearing rounds; the body is the clearing layer's
 */
export const PROTOCOL_ROOT = 'pe/v1';

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

export function parseTopic(topic: string): ParsedTopic | undefined {
  const levels = topic.split('/');
  const rootLevels = PROTOCOL_ROOT.split('/').length;
  if (levels.slice(0, rootLevels).join('/') !== PROTOCOL_ROOT) return undefined;
  const [communityId, kindLevel, ...rest] = levels.slice(rootLevels);
  const kind = MESSAGE_KINDS.find((k) => k === kindLevel);
  if (communityId === undefined || kind === undefined || rest.length !== MIDDLE_LEVELS[kind] + 1) return undefined;
  const from = rest[rest.length - 1]!;
  return MIDDLE_LEVELS[kind] === 1 ? { communityId, kind, middle: rest[0]!, from } : { communityId, kind, from };
}
