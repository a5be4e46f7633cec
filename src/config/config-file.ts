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
 * someone editing a config file.
 */
export function describeSchemaErrors(errors: ErrorObject[], patterns: Record<string, string> = {}): string[] {
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
      case 'additionalProperties':
        out.add(`${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}: unknown field`);
        break;
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
