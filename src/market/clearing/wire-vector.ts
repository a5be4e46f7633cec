/**
 * A clearing's long vectors on the wire: the base64 of their little-endian IEEE 754 doubles. A
 * number takes 10⅔ characters instead of JSON's up to 25 (the longest double and its comma), and
 * comes back with the same bits, which the sharing clearing needs (every household computes its
 * target with the coordinator's operations). So a round of the community chance family carries the
 * evaluation's 20 joint samples inside the market's 16 KiB (docs/community-coordination.md,
 * "Message size").
 */

/** Characters a double takes in a vector (base64 of 8 bytes, padding spread over the vector). */
export const VECTOR_CHARS_PER_NUMBER = 32 / 3;

/** The schema of a vector of at most `maxItems` numbers: canonical base64, checked before decoding. */
export function vectorSchema(maxItems: number): object {
  return { type: 'string', maxLength: 4 * Math.ceil((8 * maxItems) / 3), pattern: '^[A-Za-z0-9+/]*={0,2}$' };
}

export function encodeVector(values: readonly number[]): string {
  const bytes = Buffer.alloc(8 * values.length);
  values.forEach((v, k) => bytes.writeDoubleLE(v, 8 * k));
  return bytes.toString('base64');
}

/** The numbers of `text`, or null when it is not a canonical vector of finite numbers within [min, max]. */
export function decodeVector(text: string, minimum: number, maximum: number): number[] | null {
  const bytes = Buffer.from(text, 'base64');
  // Node's decoder skips what it cannot read: only the encoding this side would send is taken.
  if (bytes.length % 8 !== 0 || bytes.toString('base64') !== text) return null;
  const values: number[] = [];
  for (let offset = 0; offset < bytes.length; offset += 8) {
    const v = bytes.readDoubleLE(offset);
    if (!(Number.isFinite(v) && v >= minimum && v <= maximum)) return null;
    values.push(v);
  }
  return values;
}
