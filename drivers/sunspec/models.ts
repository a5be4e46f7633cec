/**
 * The vendored SunSpec model definitions (drivers/sunspec/models/*.json), validated once
 * against the upstream JSON Schema so a broken or edited file fails loudly at load time
 * instead of shifting register addresses silently.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { PointType } from './point-codec.ts';

export interface SymbolDef {
  name: string;
  value: number;
}

export interface PointDef {
  name: string;
  type: PointType;
  size: number;
  /** Name of the sunssf point that scales this one, or a fixed exponent. */
  sf?: string | number;
  access?: 'R' | 'RW';
  mandatory?: 'M' | 'O';
  /** Fixed content (the model's ID point). */
  value?: number | string;
  units?: string;
  symbols?: SymbolDef[];
}

export interface GroupDef {
  name: string;
  type: 'group' | 'sync';
  /** Repetitions: a number, the name of a point holding it, or 0 = as many as fit in the model length. */
  count?: number | string;
  points?: PointDef[];
  groups?: GroupDef[];
}

export interface ModelDef {
  id: number;
  group: GroupDef;
}

const MODELS_DIR = new URL('./models/', import.meta.url);

function loadAll(): Map<number, ModelDef> {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(JSON.parse(readFileSync(new URL('schema.json', MODELS_DIR), 'utf8')) as object);
  const models = new Map<number, ModelDef>();
  for (const file of readdirSync(MODELS_DIR).filter((f) => /^model_\d+\.json$/.test(f))) {
    const def: unknown = JSON.parse(readFileSync(new URL(file, MODELS_DIR), 'utf8'));
    if (!validate(def)) throw new Error(`SunSpec model ${file} does not match schema.json: ${ajv.errorsText(validate.errors)}`);
    const model = def as ModelDef;
    models.set(model.id, model);
  }
  return models;
}

let cache: Map<number, ModelDef> | undefined;

/** The definition of SunSpec model `id`, or undefined when it is not vendored. */
export function modelDefinition(id: number): ModelDef | undefined {
  cache ??= loadAll();
  return cache.get(id);
}

export function requireModelDefinition(id: number): ModelDef {
  const def = modelDefinition(id);
  if (!def) throw new Error(`SunSpec model ${id} is not among the vendored definitions (drivers/sunspec/models)`);
  return def;
}
