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

/**
 * Whether any object in the JSON text `text` (already known to parse) names a key twice. Parsers
 * disagree on such objects (JSON.parse keeps the last, others the first), so a signed message
 * with one could be read differently by its verifier and by someone else: it is refused.
 */
export function hasDuplicateKeys(text: string): boolean {
  // Per open container: the keys of an object so far, or null for an array.
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (expectKey) {
        const keys = stack[stack.length - 1]!;
        const raw = text.slice(start, i + 1);
        // Escapes spell one key several ways: compare what they decode to.
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (keys.has(key)) return true;
        keys.add(key);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return false;
}
