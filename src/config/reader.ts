import { OPTION_BY_NAME, type OptionName, type OptionSpec } from './options.js';
import { describeOrigin, displayValue, type RawOptions } from './load.js';
import { parseBool, parseList } from './values.js';

/**
 * Reads options for one area of validation and collects that area's messages: each problem names
 * the option in the spelling the user used, the value (secrets masked) and the form expected.
 */
export class OptionReader {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  readonly raw: RawOptions;
  readonly readFile: (p: string) => string;

  constructor(raw: RawOptions, readFile: (p: string) => string) {
    this.raw = raw;
    this.readFile = readFile;
  }

  spec(name: OptionName): OptionSpec { return OPTION_BY_NAME.get(name)!; }

  fail(name: OptionName, expected: string): void {
    const r = this.raw[name]!;
    this.errors.push(`${r.where ?? describeOrigin(this.spec(name), r.origin)}: got ${displayValue(this.spec(name), r.value)}, expected ${expected}`);
  }

  missing(name: OptionName, why: string): void {
    const where = this.raw[name]!.where;
    this.errors.push(`${where ?? `${this.spec(name).env} (or ${this.spec(name).flag})`} is required: ${why}`);
  }

  str(name: OptionName): string {
    const v = this.raw[name]!.value;
    return (typeof v === 'string' ? v : v.join(',')).trim();
  }

  list(name: OptionName): string[] { return parseList(this.raw[name]!.value); }

  bool(name: OptionName): boolean {
    const p = parseBool(this.str(name));
    if (p.ok) return p.value;
    this.fail(name, p.expected);
    return this.spec(name).default === 'true';
  }

  enumOf(name: OptionName): string {
    const s = this.spec(name);
    const v = s.name === 'cookie_samesite' || s.name === 'cookie_csrf_samesite' ? this.str(name).toLowerCase() : this.str(name);
    if (s.choices!.includes(v)) return v;
    this.fail(name, `one of ${s.choices!.map((c) => (c === '' ? '""' : c)).join(', ')}`);
    return s.default;
  }

  url(name: OptionName, opts: { required?: string } = {}): URL | undefined {
    const v = this.str(name);
    if (v === '') {
      if (opts.required) this.missing(name, opts.required);
      return undefined;
    }
    try {
      const u = new URL(v);
      if (u.protocol === 'http:' || u.protocol === 'https:') return u;
    } catch { /* reported below */ }
    this.fail(name, 'an absolute http:// or https:// URL');
    return undefined;
  }

  path(name: OptionName, trailingSlashOk: boolean): string {
    const v = this.str(name);
    if (!v.startsWith('/') || /[\s?#]/.test(v) || (!trailingSlashOk && v.length > 1 && v.endsWith('/'))) {
      this.fail(name, `a path starting with /${trailingSlashOk ? '' : ' and not ending with /'}, e.g. ${this.spec(name).default}`);
      return this.spec(name).default;
    }
    return v;
  }
}
