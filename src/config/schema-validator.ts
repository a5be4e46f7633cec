/**
 * The JSON-schema validators of the config files (gateway config, board profile, register map).
 * Compiling them with ajv at start-up took ~370 ms of a gateway's first 1.6 s (and ajv's compiler
 * and its garbage stay in memory): the compiled build (deploy/build.mjs) writes each validator's
 * code ahead of time, with ajv's standalone code generation and the same options, to
 * `dist/validators/<name>.cjs`, and the build loads that. From the TypeScript sources (tsx,
 * vitest), or from a build made without them, the schema is compiled here as before.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Options, ValidateFunction } from 'ajv';
import { compiled } from '../package/paths.ts';

/** ajv's options of each validator: the same for the generated code and for a compile here. */
export const validatorOptions = {
  gateway: { allErrors: true, strict: false, useDefaults: true },
  board: { allErrors: true, strict: false },
  'register-map': { allErrors: true, strict: false },
} as const satisfies Record<string, Options>;

export type ValidatorName = keyof typeof validatorOptions;

/** The generated validator's file in a compiled build: dist/validators/<name>.cjs (this module is dist/src/config/…). */
export const generatedValidatorUrl = (name: ValidatorName): URL => new URL(`../../validators/${name}.cjs`, import.meta.url);

export async function schemaValidator(name: ValidatorName, schema: object): Promise<ValidateFunction> {
  const generated = generatedValidatorUrl(name);
  if (compiled && existsSync(fileURLToPath(generated))) return ((await import(generated.href)) as { default: ValidateFunction }).default;
  const { Ajv } = await import('ajv');
  return new Ajv({ ...validatorOptions[name] }).compile(schema);
}
