/**
 * The part of Go's text/template language that oauth2-proxy's sign_in.html and error.html use, so
 * that a page customised for oauth2-proxy (custom_templates_dir) renders here too: `{{.Field}}`,
 * `{{if …}}` / `{{else if …}}` / `{{else}}` / `{{end}}`, `{{define "name"}}`, comments, the `{{-`
 * `-}}` trim markers, and the functions eq, ne, not, and, or, ToUpper, ToLower. Anything else
 * (range, with, template, variables, pipes) is refused when the template is compiled, at start-up,
 * with the line it is on: a page that half-renders is worse than a clear error.
 *
 * Every value is HTML-escaped on output, except TrustedHtml (the operator's banner, footer and logo,
 * which oauth2-proxy also inserts unescaped).
 */

/** HTML written by the operator (configuration), inserted as it is. */
export class TrustedHtml {
  readonly html: string;
  constructor(html: string) { this.html = html; }
  toString(): string { return this.html; }
}

export type TemplateValue = string | number | boolean | TrustedHtml | undefined;
export type TemplateData = Readonly<Record<string, TemplateValue>>;

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

export interface Template {
  render(data: TemplateData): string;
}

type Expr =
  | { kind: 'field'; name: string }
  | { kind: 'literal'; value: TemplateValue }
  | { kind: 'call'; fn: string; args: Expr[] };

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'print'; expr: Expr }
  | { kind: 'if'; branches: Array<{ cond: Expr; body: Node[] }>; otherwise: Node[] };

const FUNCTIONS = new Set(['eq', 'ne', 'not', 'and', 'or', 'ToUpper', 'ToLower']);

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

interface Action { readonly text: string; readonly line: number }
type Piece = string | Action;

/** Splits the source into text and actions, applying the trim markers. */
function lex(source: string, where: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    let text = source.slice(i, open < 0 ? source.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) { out.push(text); break; }
    const close = source.indexOf('}}', open + 2);
    const line = source.slice(0, open).split('\n').length;
    if (close < 0) throw new TemplateError(`${where}:${line}: "{{" without a closing "}}"`);
    let inner = source.slice(open + 2, close);
    if (/^-\s/.test(inner)) { text = text.replace(/\s+$/, ''); inner = inner.slice(1); }
    if (/\s-$/.test(inner)) { trimNext = true; inner = inner.slice(0, -1); }
    out.push(text, { text: inner.trim(), line });
    i = close + 2;
  }
  return out;
}

/** The words of an action: fields, functions, string and number literals, parentheses. */
function words(text: string, where: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|[^\s()"`]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    out.push(m[1]!);
    if (re.lastIndex >= text.length) break;
  }
  if (out.join('').replace(/\s/g, '') !== text.replace(/\s/g, '')) throw new TemplateError(`${where}: cannot read {{${text}}}`);
  return out;
}

function parseExpr(tokens: string[], where: string, fields: ReadonlySet<string>): Expr {
  if (tokens.some((t) => t === '|' || t.startsWith('$'))) throw new TemplateError(`${where}: pipes and variables are not supported`);
  let pos = 0;
  const operand = (): Expr => {
    const t = tokens[pos++];
    if (t === undefined) throw new TemplateError(`${where}: an expression ends too early`);
    if (t === '(') {
      const e = application();
      if (tokens[pos++] !== ')') throw new TemplateError(`${where}: "(" without ")"`);
      return e;
    }
    if (t.startsWith('"')) return { kind: 'literal', value: JSON.parse(t) as string };
    if (t.startsWith('`')) return { kind: 'literal', value: t.slice(1, -1) };
    if (/^-?\d+$/.test(t)) return { kind: 'literal', value: Number(t) };
    if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
    if (/^\.[A-Za-z]\w*$/.test(t)) {
      const name = t.slice(1);
      if (!fields.has(name)) throw new TemplateError(`${where}: unknown field .${name}; this page has ${[...fields].map((f) => `.${f}`).join(', ')}`);
      return { kind: 'field', name };
    }
    throw new TemplateError(`${where}: ${JSON.stringify(t)} is not supported (functions: ${[...FUNCTIONS].join(', ')})`);
  };
  const application = (): Expr => {
    const t = tokens[pos];
    if (t !== undefined && FUNCTIONS.has(t)) {
      pos++;
      const args: Expr[] = [];
      while (pos < tokens.length && tokens[pos] !== ')') args.push(operand());
      const arity = t === 'not' || t === 'ToUpper' || t === 'ToLower' ? [1, 1] : t === 'ne' ? [2, 2] : [2, Infinity];
      if (args.length < arity[0]! || args.length > arity[1]!) throw new TemplateError(`${where}: ${t} takes ${arity[0] === arity[1] ? arity[0] : `at least ${arity[0]}`} argument(s)`);
      return { kind: 'call', fn: t, args };
    }
    return operand();
  };
  const e = application();
  if (pos !== tokens.length) throw new TemplateError(`${where}: unexpected ${JSON.stringify(tokens[pos])}`);
  return e;
}

const KEYWORD = /^(if|else|end|define|range|with|template|block|break|continue)\b/;

/**
 * Compiles a template; `name` is the page it renders (a file wrapped in {{define "name"}}, as
 * oauth2-proxy's are, renders that block). `fields` are the names the page gets.
 */
export function compileTemplate(source: string, name: string, fields: readonly string[], file = name): Template {
  const known = new Set(fields);
  const pieces = lex(source, file);
  let pos = 0;
  const defined = new Map<string, Node[]>();

  /** Parses until an {{end}} / {{else…}} that the caller handles; returns the nodes and that action. */
  const block = (depth: number): { nodes: Node[]; stop?: Action } => {
    const nodes: Node[] = [];
    while (pos < pieces.length) {
      const p = pieces[pos++]!;
      if (typeof p === 'string') { if (p) nodes.push({ kind: 'text', text: p }); continue; }
      const where = `${file}:${p.line}`;
      if (p.text.startsWith('/*')) {
        if (!p.text.endsWith('*/')) throw new TemplateError(`${where}: a comment must end with */ right before }}`);
        continue;
      }
      const kw = KEYWORD.exec(p.text)?.[1];
      if (kw === 'end' || kw === 'else') {
        if (depth === 0) throw new TemplateError(`${where}: {{${p.text}}} without an {{if}} or {{define}}`);
        return { nodes, stop: p };
      }
      if (kw === 'if') {
        const branches: Array<{ cond: Expr; body: Node[] }> = [];
        let cond = parseExpr(words(p.text.slice(2).trim(), where), where, known);
        let otherwise: Node[] = [];
        for (;;) {
          const inner = block(depth + 1);
          if (!inner.stop) throw new TemplateError(`${where}: {{if}} without {{end}}`);
          branches.push({ cond, body: inner.nodes });
          const stopWhere = `${file}:${inner.stop.line}`;
          if (inner.stop.text === 'end') break;
          const rest = inner.stop.text.slice(4).trim();
          if (rest === '') {
            const last = block(depth + 1);
            if (last.stop?.text !== 'end') throw new TemplateError(`${stopWhere}: {{else}} must be followed by {{end}}`);
            otherwise = last.nodes;
            break;
          }
          if (!rest.startsWith('if ')) throw new TemplateError(`${stopWhere}: {{else ${rest}}} is not supported`);
          cond = parseExpr(words(rest.slice(3).trim(), stopWhere), stopWhere, known);
        }
        nodes.push({ kind: 'if', branches, otherwise });
        continue;
      }
      if (kw === 'define') {
        const m = /^define\s+"([^"]+)"$/.exec(p.text);
        if (!m) throw new TemplateError(`${where}: {{define}} needs a quoted name`);
        const inner = block(depth + 1);
        if (inner.stop?.text !== 'end') throw new TemplateError(`${where}: {{define}} without {{end}}`);
        defined.set(m[1]!, inner.nodes);
        continue;
      }
      if (kw) throw new TemplateError(`${where}: {{${kw}}} is not supported (only if, else, end, define)`);
      nodes.push({ kind: 'print', expr: parseExpr(words(p.text, where), where, known) });
    }
    return { nodes };
  };

  const top = block(0);
  const body = defined.get(name) ?? top.nodes;
  return { render: (data) => renderNodes(body, data) };
}

function evaluate(e: Expr, data: TemplateData): TemplateValue {
  switch (e.kind) {
    case 'literal': return e.value;
    case 'field': return data[e.name];
    case 'call': {
      const args = e.args.map((a) => evaluate(a, data));
      switch (e.fn) {
        case 'not': return !truthy(args[0]);
        case 'eq': return args.slice(1).some((a) => same(args[0], a));
        case 'ne': return !same(args[0], args[1]);
        case 'and': return args.find((a) => !truthy(a)) ?? args[args.length - 1];
        case 'or': return args.find((a) => truthy(a)) ?? args[args.length - 1];
        case 'ToUpper': return text(args[0]).toUpperCase();
        case 'ToLower': return text(args[0]).toLowerCase();
      }
      return undefined;
    }
  }
}

/** Go's truth: false, 0, and the empty string (or no value) are false. */
function truthy(v: TemplateValue): boolean {
  return v instanceof TrustedHtml ? v.html !== '' : !!v;
}

function text(v: TemplateValue): string {
  return v === undefined ? '' : v instanceof TrustedHtml ? v.html : String(v);
}

function same(a: TemplateValue, b: TemplateValue): boolean {
  const plain = (v: TemplateValue): TemplateValue => (v instanceof TrustedHtml ? v.html : v ?? '');
  return plain(a) === plain(b);
}

function renderNodes(nodes: readonly Node[], data: TemplateData): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'print') {
      const v = evaluate(n.expr, data);
      out += v instanceof TrustedHtml ? v.html : escapeHtml(text(v));
    } else {
      const hit = n.branches.find((b) => truthy(evaluate(b.cond, data)));
      out += renderNodes(hit ? hit.body : n.otherwise, data);
    }
  }
  return out;
}
