import type { Document, LineCounter } from 'yaml';

// Reads values out of a parsed YAML document with strict checks; every failure names the file,
// the line and the field path (`domains[0].pin[1]`). The scenario loader and the config file share it.

export type FieldPath = Array<string | number>;
export type YamlObject = Record<string, unknown>;

/** Builds the error a failed check throws (each caller has its own type, e.g. ScenarioError). */
export type FieldErrorFactory = (message: string, file: string, line: number | undefined, field: string) => Error;

export function pathText(path: FieldPath): string {
  let text = '';
  for (const part of path) text += typeof part === 'number' ? `[${part}]` : text === '' ? part : `.${part}`;
  return text === '' ? '(top level)' : text;
}

export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value}"`;
  return String(value);
}

export class FieldReader {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    readonly file: string,
    private readonly makeError: FieldErrorFactory,
    /** How messages name an integer ("an integer", "a whole number"). */
    private readonly integerNoun = 'an integer',
  ) {}

  /** Line of the deepest node along the path that exists in the document (aliases stop the walk). */
  lineOf(path: FieldPath): number | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  fail(path: FieldPath, message: string): never {
    const line = this.lineOf(path);
    const where = line === undefined ? this.file : `${this.file}:${line}`;
    throw this.makeError(`${where}: ${pathText(path)}: ${message}`, this.file, line, pathText(path));
  }

  object(value: unknown, path: FieldPath, allowed: readonly string[], required: readonly string[] = []): YamlObject {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) this.fail(path, `expected a mapping, got ${describeValue(value)}`);
    const obj = value as YamlObject;
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) this.fail([...path, key], `unknown field '${key}' (allowed: ${allowed.join(', ')})`);
    }
    for (const key of required) if (obj[key] === undefined) this.fail(path, `missing required field '${key}'`);
    return obj;
  }

  list(value: unknown, path: FieldPath, minLength = 0): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `expected a list, got ${describeValue(value)}`);
    if (value.length < minLength) this.fail(path, `expected at least ${minLength} entr${minLength === 1 ? 'y' : 'ies'}`);
    return value;
  }

  string(value: unknown, path: FieldPath, pattern?: RegExp, patternText?: string): string {
    if (typeof value !== 'string' || value.trim() === '') this.fail(path, `expected a non-empty string, got ${describeValue(value)}`);
    if (pattern && !pattern.test(value)) this.fail(path, `"${value}" is not ${patternText}`);
    return value;
  }

  number(value: unknown, path: FieldPath, min: number, max: number, opts: { integer?: boolean; exclusiveMin?: boolean } = {}): number {
    const kind = opts.integer ? this.integerNoun : 'a number';
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(path, `expected ${kind}, got ${describeValue(value)}`);
    if (opts.integer && !Number.isInteger(value)) this.fail(path, `expected ${kind}, got ${value}`);
    const low = opts.exclusiveMin ? value <= min : value < min;
    if (low || value > max) {
      const range = `${opts.exclusiveMin ? '>' : '≥'} ${min}${Number.isFinite(max) ? ` and ≤ ${max}` : ''}`;
      this.fail(path, `${value} is out of range (must be ${range})`);
    }
    return value;
  }

  boolean(value: unknown, path: FieldPath): boolean {
    if (typeof value !== 'boolean') this.fail(path, `expected true or false, got ${describeValue(value)}`);
    return value;
  }
}
