/**
 * Canonical JSON for signing: object keys sorted by UTF-16 code unit (Array.prototype.sort's
 * default), no whitespace, numbers and strings as JSON.stringify writes them. Two peers that
 * hold the same value therefore sign and verify the same bytes, whatever order the keys were
 * built or parsed in. Only JSON values are allowed: a non-finite number or an `undefined`
 * would not survive the wire, so it is an error here rather than a silent difference.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no form for ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined) throw new TypeError(`canonical JSON has no form for undefined (key "${key}")`);
        return `${JSON.stringify(key)}:${canonicalJson(item)}`;
      });
    return `{${entries.join(',')}}`;
  }
  throw new TypeError(`canonical JSON has no form for a ${typeof value}`);
}
