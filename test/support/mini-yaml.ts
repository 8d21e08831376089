// A reader for the small subset of YAML that docker-compose.yml is written in, so its test can
// read it without a YAML dependency: block mappings, block lists of scalars, JSON-style flow
// collections, plain / single / double-quoted scalars (all read as strings), `>`/`>-` folded
// text, `&anchor` on a block value, `*alias` and the `<<: *anchor` merge key. Anything else
// throws with the line number, so the file cannot drift outside what the test understands.

interface Line {
  indent: number;
  text: string;
  no: number;
}

export class MiniYamlError extends Error {}

/** Cuts a `#` comment that starts the text or follows whitespace, outside quotes. */
function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

const KEY = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s'"#\-[{][^:]*?|<<):(?:\s+(.*))?$/;

class Parser {
  private i = 0;
  private readonly anchors = new Map<string, unknown>();
  private readonly lines: Line[];

  constructor(private readonly raw: string[]) {
    this.lines = raw.map((line, index) => {
      if (/^\s*\t/.test(line)) throw new MiniYamlError(`line ${index + 1}: tabs are not allowed for indentation`);
      const indent = line.length - line.trimStart().length;
      return { indent, text: line.trim(), no: index + 1 };
    });
  }

  private fail(line: Line | undefined, message: string): never {
    throw new MiniYamlError(`line ${line?.no ?? this.raw.length}: ${message}`);
  }

  /** The next line with content, skipping blank and comment-only lines. */
  private peek(): Line | undefined {
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.text !== '' && !line.text.startsWith('#')) return line;
      this.i++;
    }
    return undefined;
  }

  document(): unknown {
    const first = this.peek();
    if (!first) return null;
    if (first.indent !== 0) this.fail(first, 'the document must start at column 0');
    const value = this.node(0);
    const rest = this.peek();
    if (rest) this.fail(rest, 'unexpected content');
    return value;
  }

  private isItem(line: Line): boolean {
    return line.text === '-' || line.text.startsWith('- ');
  }

  private node(indent: number): unknown {
    const line = this.peek()!;
    return this.isItem(line) ? this.sequence(indent) : this.mapping(indent);
  }

  private mapping(indent: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (let line = this.peek(); line && line.indent === indent && !this.isItem(line); line = this.peek()) {
      const match = KEY.exec(stripComment(line.text));
      if (!match) this.fail(line, `expected "key: value", got "${line.text}"`);
      this.i++;
      const key = this.scalar(match[1]!, line);
      const rest = match[2];
      if (key === '<<') {
        const merged = this.value(rest, indent, line);
        if (!merged || typeof merged !== 'object' || Array.isArray(merged)) this.fail(line, '<< must merge a mapping');
        for (const [k, v] of Object.entries(merged)) if (!(k in result)) result[k] = v;
        continue;
      }
      if (Object.hasOwn(result, key)) this.fail(line, `duplicate key "${key}"`);
      result[key] = this.value(rest, indent, line);
    }
    const next = this.peek();
    if (next && next.indent > indent) this.fail(next, 'unexpected indentation');
    return result;
  }

  private sequence(indent: number): unknown[] {
    const result: unknown[] = [];
    for (let line = this.peek(); line && line.indent === indent && this.isItem(line); line = this.peek()) {
      this.i++;
      const rest = stripComment(line.text.slice(1).trim());
      if (KEY.test(rest) && !/^["'[{]/.test(rest)) this.fail(line, 'lists of mappings are not supported; use a mapping');
      result.push(this.value(rest, indent, line));
    }
    return result;
  }

  /** The value after `key:` or `-`: inline, or a block below indented deeper than `indent`. */
  private value(rest: string | undefined, indent: number, line: Line): unknown {
    const text = rest === undefined ? '' : stripComment(rest);
    if (text === '') {
      const next = this.peek();
      if (next && next.indent > indent) return this.node(next.indent);
      // Compose style: a list may sit at the same indentation as its key.
      if (next && next.indent === indent && this.isItem(next) && !this.isItem(line)) return this.sequence(indent);
      return null;
    }
    if (text.startsWith('&')) {
      const [anchor, ...after] = text.slice(1).split(/\s+/);
      if (!anchor) this.fail(line, 'empty anchor name');
      const value = this.value(after.join(' '), indent, line);
      this.anchors.set(anchor, value);
      return value;
    }
    if (text.startsWith('*')) {
      const name = text.slice(1);
      if (!this.anchors.has(name)) this.fail(line, `unknown alias *${name}`);
      return this.anchors.get(name);
    }
    if (text === '>' || text === '>-') return this.folded(indent, text === '>');
    if (text.startsWith('|') || text.startsWith('>') || text.startsWith('!') || text.startsWith('?')) {
      this.fail(line, `unsupported YAML construct "${text}"`);
    }
    if (text.startsWith('[') || text.startsWith('{')) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        this.fail(line, 'flow collections must be written as JSON (double-quoted strings)');
      }
    }
    return this.scalar(text, line);
  }

  /** `>`-style text: the more-indented lines that follow, joined with spaces. */
  private folded(indent: number, keepNewline: boolean): string {
    const parts: string[] = [];
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.text !== '' && line.indent <= indent) break;
      if (line.text !== '') parts.push(line.text);
      this.i++;
    }
    return parts.join(' ') + (keepNewline ? '\n' : '');
  }

  private scalar(text: string, line: Line): string {
    if (text.startsWith('"')) {
      try {
        return JSON.parse(text) as string;
      } catch {
        this.fail(line, `bad double-quoted string ${text}`);
      }
    }
    if (text.startsWith("'")) {
      if (!text.endsWith("'") || text.length < 2) this.fail(line, `bad single-quoted string ${text}`);
      return text.slice(1, -1).replaceAll("''", "'");
    }
    if (/: |\s#/.test(text)) this.fail(line, `plain scalar "${text}" needs quotes`);
    return text;
  }
}

export function parseMiniYaml(source: string): unknown {
  return new Parser(source.split(/\r?\n/)).document();
}
