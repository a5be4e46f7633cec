/**
 * What the YAML config loaders (board profiles, gateway configs) share: reading and parsing a
 * file, and turning ajv's errors into one line per problem that names the field path and what
 * was expected. The file name is prefixed by the error class, so every line names it too.
 */
import { readFileSync } from 'node:fs';
import type { ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';

/** Problems found in one config file: one message line per problem, each `<file>: <problem>`. */
export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join('\n'));
  }
}

type ErrorClass = new (file: string, problems: string[]) => ConfigFileError;

/** The file's YAML as plain data; a read or syntax error throws `Err` (syntax errors with line and column). */
export function readYamlFile(file: string, what: string, Err: ErrorClass): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Err(file, [`cannot read ${what}: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  const syntax = doc.errors[0];
  // Only the first: the parser's later complaints are mostly echoes of it.
  if (syntax) throw new Err(file, [`line ${syntax.linePos?.[0].line ?? '?'}, column ${syntax.linePos?.[0].col ?? '?'}: YAML syntax error: ${syntax.message.split('\n')[0]}`]);
  return doc.toJS();
}

/**
 * One line per problem, `<path>: <what was expected>`. `patterns` maps a schema's regular
 * expressions to words ("lower-case letters, digits and '-'"), since a regex is no help to
 * someone editing a config file. Given the schema that was validated, an unknown field is
 * answered with the closest field allowed there ("did you mean `maxImportKw`?").
 */
export function describeSchemaErrors(errors: ErrorObject[], patterns: Record<string, string> = {}, schema?: object): string[] {
  const out = new Set<string>();
  for (const e of errors) {
    const at = e.instancePath || '/';
    switch (e.keyword) {
      case 'if':
      case 'propertyNames':
        break; // the failing branch's / the failing name's own errors say what is wrong
      case 'required':
        out.add(`${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}: is required`);
        break;
      case 'additionalProperties': {
        const field = (e.params as { additionalProperty: string }).additionalProperty;
        const guess = schema ? closestName(field, fieldsAt(schema, e.schemaPath)) : null;
        out.add(`${e.instancePath}/${field}: unknown field${guess === null ? '' : ` (did you mean \`${guess}\`?)`}`);
        break;
      }
      case 'enum':
        out.add(`${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => String(v)).join(', ')}`);
        break;
      case 'pattern': {
        const pattern = (e.params as { pattern: string }).pattern;
        const expected = patterns[pattern] ?? `match ${pattern}`;
        // A failing property name of a map (propertyNames) carries the name; the value path is the map's.
        if (e.propertyName !== undefined) out.add(`${at}/${e.propertyName}: names must be ${expected}`);
        else out.add(`${at}: must be ${expected}`);
        break;
      }
      default:
        out.add(`${e.propertyName !== undefined ? `${at}/${e.propertyName}: name` : `${at}:`} ${e.message ?? 'is invalid'}`);
    }
  }
  return [...out];
}

/** The fields the schema object holding the failed keyword at `schemaPath` (`#/properties/site/additionalProperties`) allows. */
function fieldsAt(schema: object, schemaPath: string): string[] {
  let node: unknown = schema;
  for (const segment of schemaPath.replace(/^#\/?/, '').split('/').slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return [];
    node = (node as Record<string, unknown>)[decodeURIComponent(segment).replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  const properties = (node as { properties?: unknown } | undefined)?.properties;
  return typeof properties === 'object' && properties !== null ? Object.keys(properties) : [];
}

/**
 * The known name a typo most likely meant: the same name in another spelling (case, `_`, `-`),
 * else the nearest by edit distance if it is within a third of the name's length; null if none is.
 */
function closestName(name: string, known: string[]): string | null {
  const plain = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(name.length / 3));
  for (const candidate of known) {
    const distance = plain(candidate) === plain(name) ? 0 : editDistance(name, candidate);
    if (distance <= bestDistance && (best === null || distance < bestDistance)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
