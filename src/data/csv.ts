/**
 * Minimal reader for the shared data's CSV dialect: header row, comma separated, `\n` lines.
 * The hourly files never quote; the building metadata quotes text cells that hold commas, so a
 * table may opt in to RFC 4180 quoting. No CSV package is installed, and this dialect needs no
 * more than a split; what it adds is errors that name file, line and column.
 */

export class DataFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: string | undefined,
    detail: string,
  ) {
    super(`${file}:${line}${column === undefined ? '' : ` column "${column}"`}: ${detail}`);
    this.name = 'DataFormatError';
  }
}

export interface CsvRow {
  /** 1-based line number in the file (the header is line 1). */
  line: number;
  get(column: string): string;
}

export interface CsvTable {
  file: string;
  columns: string[];
  rows: CsvRow[];
}

/** Splits one line on commas outside double quotes; `""` inside quotes is a quote. */
function splitQuoted(file: string, line: number, raw: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (quoted) {
      if (ch === '"' && raw[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  if (quoted) throw new DataFormatError(file, line, undefined, 'unterminated quoted field');
  cells.push(cell);
  return cells;
}

export function parseCsv(file: string, text: string, requiredColumns: readonly string[], options: { quoted?: boolean } = {}): CsvTable {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new DataFormatError(file, 1, undefined, 'empty file, expected a header row');
  const columns = lines[0]!.replace(/\r$/, '').split(',');
  for (const required of requiredColumns) {
    if (!columns.includes(required)) {
      throw new DataFormatError(file, 1, required, `missing required column (header has: ${columns.join(', ')})`);
    }
  }
  const index = new Map(columns.map((c, i) => [c, i]));
  const rows: CsvRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.replace(/\r$/, '');
    if (!options.quoted && raw.includes('"')) throw new DataFormatError(file, line, undefined, 'quoted fields are not supported in this data');
    const cells = options.quoted ? splitQuoted(file, line, raw) : raw.split(',');
    if (cells.length !== columns.length) {
      throw new DataFormatError(file, line, undefined, `expected ${columns.length} fields, found ${cells.length}`);
    }
    rows.push({
      line,
      get(column: string): string {
        const at = index.get(column);
        if (at === undefined) throw new DataFormatError(file, line, column, 'no such column');
        return cells[at]!;
      },
    });
  }
  return { file, columns, rows };
}

/** A number cell; empty means "not available" (null). Anything else malformed is an error. */
export function numberCell(table: CsvTable, row: CsvRow, column: string): number | null {
  const text = row.get(column).trim();
  if (text === '') return null;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new DataFormatError(table.file, row.line, column, `not a number: "${text}"`);
  return value;
}

const isoHour = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):00:00Z$/;

/** An ISO 8601 UTC timestamp on a whole hour, as epoch milliseconds. */
export function hourCell(table: CsvTable, row: CsvRow, column: string): number {
  const text = row.get(column).trim();
  const match = isoHour.exec(text);
  const ms = match ? Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!) : NaN;
  if (!match || !Number.isFinite(ms) || new Date(ms).toISOString() !== `${text.slice(0, 19)}.000Z`) {
    throw new DataFormatError(table.file, row.line, column, `not a UTC whole-hour timestamp like 2016-07-01T00:00:00Z: "${text}"`);
  }
  return ms;
}
