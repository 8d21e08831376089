// Routing without a router LLM: a deterministic lexical router. It scores a message against each
// candidate config's name, description and, for functions, the function name and the names and
// descriptions of its JSON-Schema parameters, with BM25 over the candidates given, and picks the
// best one above a threshold; below it nobody is chosen and the caller lets the default LLM config
// answer. Pure and deterministic (no Node imports, no clock, no randomness, no Intl segmenter): the
// workflow bundle includes this module and the activities call the same code.
//
// Text: Latin words are lowercased, camelCase and snake_case are split, a light suffix stripping
// folds plurals and -ing/-ed/-er/-ion forms, and a small stopword list is dropped. CJK text has no
// spaces, so a run of Han (or kana, hangul) characters gives its character bigrams and unigrams.
// Then a bilingual concept lexicon (routing/similarity-lexicon.ts) adds a concept token such as
// `@weather` for each domain word it knows, in either language, so that 下雨 in a message meets
// "forecast" in a description.
import { cjkConcepts, compileLexicon, latinConcepts, type ConceptMatch } from './similarity-lexicon';

export interface SimilarityCandidate {
  id: number; // config id
  kind: 'llm' | 'function';
  name: string; // config_name
  description: string | null;
  functionName?: string | null;
  /** For functions: the JSON Schema of its parameters (properties' names and descriptions count as text). */
  parameters?: Record<string, unknown> | null;
}

export interface SimilarityScore {
  id: number;
  score: number;
}

export interface SimilarityMatch {
  candidate: SimilarityCandidate;
  score: number;
  /** Every candidate's score, best first (ties by lower id). */
  scores: SimilarityScore[];
}

/** BM25 term-frequency saturation and length normalisation (the usual values). */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/**
 * A lone CJK character carries much less meaning than a word: 天 is in 天气 (weather), 今天 (today)
 * and 聊天 (chat). Unigrams still count (one-character words such as 药 or 钱 exist) but at this
 * weight; a two-character word then scores as one bigram plus two weighted unigrams.
 */
export const CJK_UNIGRAM_WEIGHT = 0.3;

/**
 * A concept token (`@weather`, routing/similarity-lexicon.ts) counts as much as a word, 1.0: the
 * lexicon lists a word under a concept only when the word alone says the message is about that
 * domain (下雨 "rain" for weather, 机票 for flights), so one concept shared with a single config
 * is the same evidence as one distinctive word and, like it, reaches the threshold on its own.
 * That is what lets a Chinese message reach a config described in English. Where the message and
 * the config share the word itself as well, the two add up, so a literal match still ranks above
 * a synonym. Concept tokens do not count towards a document's length (they restate its words),
 * and, like any term, a concept many configs share weighs little (IDF).
 */
export const CONCEPT_WEIGHT = 1;

/**
 * Scores are normalised so one threshold works whatever the number of candidates: a candidate's
 * BM25 score is divided by the IDF a term would have if it occurred in that candidate alone
 * (log(1 + (N - 0.5) / 1.5)), the largest IDF a matching term can have among N candidates. A score
 * then reads as "so many distinctive words matched": 1.0 is one word found in a single candidate,
 * once, in a document of average length; a word shared by several candidates counts for less
 * (with 2 candidates, a word in both counts 0.26; with 10, a word in 5 of them counts 0.35), a
 * repeated word a little more (BM25 saturation), and a word in a document longer than the average
 * a little less (1.5× the average length: 0.83, 2×: 0.71).
 *
 * The threshold, 0.7, asks for one distinctive word, even in a document twice the average length
 * (for functions with many described parameters), or a few shared ones. A word every candidate
 * shares does not reach it (with two candidates 0.26 once, under 0.6 however often; less with more), nor do stray
 * single-character CJK matches (0.3 each in a document of average length) unless three of them
 * come together. It is a point of the normalised scale, the same for 2 configs as for 200, chosen
 * from that reasoning, and kept when the concept lexicon came (a concept counts like a word). On
 * the evaluation sets (`npm run eval:routing`) the accuracy is the same anywhere from 0.3 to 0.8
 * (development set; from 0.9 up it drops right answers) and from 0.3 to 1.1 (held-out set); 0.7
 * sits inside that plateau with margin on both sides, and the small-talk tests keep it honest.
 */
export const SIMILARITY_THRESHOLD = 0.7;

// ---------------------------------------------------------------------------------------------
// Tokenisation

const EN_STOPWORDS = new Set(
  (
    'a an the and or but if then else of to in on at by for from with without into onto about as is are was were be been being ' +
    'am do does did done have has had having i me my mine we us our you your yours he him his she her it its they them their ' +
    'this that these those there here what which who whom whose when where why how can could would should will shall may might ' +
    'must not no yes so too very just also please thank thanks hi hey hello ok okay some any all each every more most much many ' +
    'one two get got use used using user users ask asks asked tell want wants need needs like let make give e g eg etc via per ' +
    'than only out up down over under again now today tomorrow tonight yesterday ' +
    // Task-generic verbs and nouns: any tool "gets", "finds" or "looks up" something; they say
    // nothing about which config a message is for.
    'look lookup find fetch retrieve show check help provide provides information info detail details ' +
    'know question questions thing things something anything stuff specify specified given certain related'
  ).split(' '),
);

/** Single characters too common to mean anything on their own (particles, pronouns, function words). */
const CJK_STOP_CHARS = new Set([
  ...'的了是我你他她它们吗呢吧啊呀哦嗯在有和与及或一个这那请帮把给就也都很还要想会能可以用于对将被让么什怎样些吧么得地着过呗嘛哪查',
]);
/** Particles (and 怎, only ever in 怎么/怎样): a bigram containing one is not a word. */
const CJK_PARTICLES = new Set([...'的了吗呢吧啊呀哦嗯么怎得地着过呗嘛']);
const CJK_STOP_BIGRAMS = new Set([
  '什么',
  '怎么',
  '怎样',
  '一个',
  '一下',
  '这个',
  '那个',
  '可以',
  '我们',
  '你们',
  '他们',
  '帮我',
  '请问',
  '如何',
  '为什',
  '能不',
  '不能',
  '我想',
  '我要',
  '你好',
  '用户',
  '使用',
  '时候',
  '现在',
  // Task-generic verbs and nouns (查询 "look up", 信息 "information", 获取 "get"...): every tool
  // does them; they say nothing about which config a message is for.
  '查询',
  '查查',
  '查看',
  '查找',
  '查一',
  '看看',
  '看一',
  '告诉',
  '知道',
  '信息',
  '获取',
  '提供',
  '需要',
  '问题',
  '帮忙',
  '麻烦',
  '一些',
  '给我',
  '能否',
  '指定',
  '相关',
  '根据',
  '返回',
  '支持',
  '内容',
  '情况',
  '结果',
]);

const CJK = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Hangul}';
const CJK_CHAR = new RegExp(`[${CJK}]`, 'u');
/** A run of CJK characters, or a run of other letters and digits (`用SQL查询` is 用, SQL, 查询). */
const SEGMENT = new RegExp(`[${CJK}]+|(?:(?![${CJK}])[\\p{L}\\p{N}])+`, 'gu');

function stripSuffix(word: string): string {
  if (word.length <= 3 || /\d/.test(word)) return word;
  let w = word;
  if (w.endsWith('ies') && w.length > 4) w = w.slice(0, -3) + 'y';
  else if (/(?:ss|sh|ch|x|z)es$/.test(w)) w = w.slice(0, -2);
  else if (w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) w = w.slice(0, -1);
  const before = w;
  for (const suffix of ['ions', 'ion', 'ing', 'ers', 'er', 'ed', 'ly']) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  // running → runn → run; but not "add", "all", "inn" (only when a suffix was stripped)
  if (w !== before && /([b-df-hj-np-tv-z])\1$/.test(w) && !/(?:ll|ss|zz)$/.test(w)) w = w.slice(0, -1);
  // translate / translating / translated / translation all end as "translat"
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

interface LatinWord {
  word: string;
  stem: string;
}

const isAsciiUpper = (code: number): boolean => code >= 65 && code <= 90;
const isAsciiLower = (code: number): boolean => code >= 97 && code <= 122;
const isAsciiDigit = (code: number): boolean => code >= 48 && code <= 57;

/**
 * camelCase and acronyms split with spaces: getWeather → get Weather, HTTPServer → HTTP Server.
 * One pass, linear: it writes what `.replace(/([a-z0-9])([A-Z])/g, '$1 $2')` and then
 * `.replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')` wrote, whose second regex backtracks through a run of
 * capitals from each of its letters (60,000 `A`s took 2.2 s). A space goes between a lowercase
 * letter or digit and a capital, and before the last capital of a run of two or more followed by
 * a lowercase letter.
 */
function splitCamelCase(segment: string): string {
  let out = '';
  let runStart = -1; // start of the current run of ASCII capitals
  for (let i = 0; i < segment.length; i++) {
    const code = segment.charCodeAt(i);
    if (isAsciiUpper(code)) {
      if (runStart < 0) runStart = i;
      const previous = i > 0 ? segment.charCodeAt(i - 1) : -1;
      if (isAsciiLower(previous) || isAsciiDigit(previous)) out += ' ';
      else if (i - runStart >= 1 && isAsciiLower(segment.charCodeAt(i + 1))) out += ' ';
    } else runStart = -1;
    out += segment[i];
  }
  return out;
}

function latinWords(segment: string, out: LatinWord[]): void {
  for (const raw of splitCamelCase(segment).split(' ')) {
    const word = raw.toLowerCase();
    if (!word || EN_STOPWORDS.has(word)) continue;
    if (word.length === 1 && !/\d/.test(word)) continue;
    const stem = stripSuffix(word);
    if (!EN_STOPWORDS.has(stem)) out.push({ word, stem });
  }
}

/**
 * The lexicon, compiled on first use with the same Latin tokenisation as messages (about 1,000
 * entries; a few milliseconds, then only map lookups). On first use, not at load: a workflow
 * evaluates this module for every new run (each session start and continue-as-new), and most runs
 * never route without the router LLM.
 */
let lexicon: ReturnType<typeof compileLexicon> | undefined;
function compiledLexicon(): ReturnType<typeof compileLexicon> {
  lexicon ??= compileLexicon((word) => {
    const words: LatinWord[] = [];
    latinWords(word, words);
    return words.map((w) => w.stem);
  });
  return lexicon;
}

function cjkTokens(segment: string, out: string[]): void {
  const chars = [...segment];
  for (let i = 0; i < chars.length; i++) {
    if (!CJK_STOP_CHARS.has(chars[i])) out.push(chars[i]);
    if (i + 1 < chars.length) {
      const bigram = chars[i] + chars[i + 1];
      if (!CJK_PARTICLES.has(chars[i]) && !CJK_PARTICLES.has(chars[i + 1]) && !CJK_STOP_BIGRAMS.has(bigram)) out.push(bigram);
    }
  }
}

/** A text's word terms, in order, and the lexicon concepts found in it, in order. */
function analyse(text: string): { words: string[]; concepts: ConceptMatch[] } {
  const words: string[] = [];
  const concepts: ConceptMatch[] = [];
  let latin: LatinWord[] = [];
  const flushLatin = (): void => {
    for (const w of latin) words.push(w.stem);
    latinConcepts(latin, compiledLexicon(), concepts);
    latin = [];
  };
  const normalised = text.normalize('NFKC').replace(/_/g, ' ');
  for (const match of normalised.matchAll(SEGMENT)) {
    const segment = match[0];
    if (CJK_CHAR.test(segment[0])) {
      // A Latin phrase does not run across Chinese text.
      flushLatin();
      cjkTokens(segment, words);
      cjkConcepts(segment, compiledLexicon(), concepts);
    } else latinWords(segment, latin);
  }
  flushLatin();
  return { words, concepts };
}

/**
 * The terms of a text, with repetitions: first its words in order, Latin words lowercased, split at
 * camelCase and underscores, lightly stemmed, stopwords dropped, CJK runs as unigrams and bigrams
 * (`北京天气` → 北, 北京, 京, 京天, 天, 天气, 气); then the concept tokens the lexicon finds in it,
 * in order (`@weather`). Full-width forms are folded first (NFKC). Cost: linear in the text, a few
 * map lookups per word or character.
 */
export function tokenize(text: string): string[] {
  const { words, concepts } = analyse(text);
  return words.concat(concepts.flatMap((c) => c.tokens));
}

function isCjkUnigram(term: string): boolean {
  return [...term].length === 1 && CJK_CHAR.test(term);
}

function isConcept(term: string): boolean {
  return term.startsWith('@');
}

// ---------------------------------------------------------------------------------------------
// Documents and scoring

const MAX_SCHEMA_DEPTH = 4;

/**
 * How much of each input routing reads, so that one message costs a bounded amount of work
 * whatever is stored (200 configs, each description up to 4,000 characters, parameter schemas
 * up to the body limit): the first `textChars` characters of the message, the first
 * `descriptionChars` of a config's description and of each schema description, and the first
 * `schemaChars` of a function's schema text (names, titles, descriptions, enum values; the walk
 * stops there). Words beyond these say little about which config a message is for.
 *
 * The activities route with these bounds (their decision is recorded in history). The workflow
 * routes without them when the activity itself failed (workflows/answer.ts) and recomputes that
 * decision on replay, so its inputs must keep giving what they gave: it reads cached configs
 * (descriptions cut at 500 characters, no schemas) and the message, all linear now.
 */
export interface RoutingBounds {
  textChars: number;
  descriptionChars: number;
  schemaChars: number;
}

export const ROUTING_BOUNDS: RoutingBounds = { textChars: 4000, descriptionChars: 500, schemaChars: 1000 };

const UNBOUNDED: RoutingBounds = { textChars: Infinity, descriptionChars: Infinity, schemaChars: Infinity };

const head = (text: string, chars: number): string => (text.length > chars ? text.slice(0, chars) : text);

/** Property names, titles, descriptions and string enum values of a JSON Schema, recursively, up to `budget.left` characters. */
function schemaText(schema: unknown, depth: number, out: string[], budget: { left: number; descriptionChars: number }): void {
  if (depth > MAX_SCHEMA_DEPTH || schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
  const push = (piece: string): boolean => {
    if (budget.left <= 0) return false;
    const kept = head(piece, budget.left);
    out.push(kept);
    budget.left -= kept.length + 1; // and the line break that joins it
    return true;
  };
  const s = schema as Record<string, unknown>;
  if (typeof s.title === 'string' && !push(s.title)) return;
  if (typeof s.description === 'string' && !push(withoutExamples(head(s.description, budget.descriptionChars)))) return;
  if (Array.isArray(s.enum)) for (const v of s.enum) if (typeof v === 'string' && !push(v)) return;
  const properties = s.properties;
  if (properties !== null && typeof properties === 'object' && !Array.isArray(properties)) {
    for (const [name, sub] of Object.entries(properties as Record<string, unknown>)) {
      if (!push(name)) return;
      schemaText(sub, depth + 1, out, budget);
    }
  }
  if (Array.isArray(s.items)) for (const item of s.items) schemaText(item, depth + 1, out, budget);
  else schemaText(s.items, depth + 1, out, budget);
}

/**
 * Example values in a parameter's description: from a marker (e.g., eg, for example, for instance,
 * 例如, 比如, 譬如, 如：) to the end of its sentence, clause or parenthesis (. 。 ; ； ) ） or a
 * line break). "City name, e.g. Paris or London" is read as "City name": example values are
 * arbitrary (a city, a currency, a date) and would make a message that mentions Paris look like it
 * is for this function rather than another. The JSON Schema `examples` keyword is not read either.
 *
 * A scanner, linear in the description. It removes exactly what this regex (the first version)
 * removed, each match replaced by a space:
 *
 *   /(?:\b(?:e\.\s?g\b\.?|eg\b\.?|for example|for instance)|例如|比如|譬如|如[:：])[^.。;；)）\n]*
 *    |[(（][^)）]*?(?:\be\.\s?g\b|\beg\b|for example|例如|比如)[^)）]*[)）]/giu
 *
 * whose lazy parenthesis branch scanned to the end of the text from every `(` (30,000 `(` took
 * 3.2 s). Routing results, and so histories the workflow recomputes, are unchanged.
 */
const CLAUSE_END = new Set([...'.。;；)）\n']);
const CLOSE_PAREN = new Set([...')）']);
const OPEN_PAREN = new Set([...'(（']);
const SINGLE_SPACE = /^\s$/;
const MARKER_FIRST_CODES = new Set([...'eEfF例比譬如'].map((c) => c.charCodeAt(0)));

/** `\w` as the regex above read it (case-insensitive and Unicode: ſ and the Kelvin sign are word characters). */
function isWordCode(code: number): boolean {
  return isAsciiUpper(code) || isAsciiLower(code) || isAsciiDigit(code) || code === 95 || code === 0x17f || code === 0x212a;
}

class ExampleMarkers {
  constructor(private readonly text: string) {}

  /** The character at i as the case-insensitive regex compared it (ASCII lowercased, ſ as s). */
  private folded(i: number): string {
    const code = this.text.charCodeAt(i);
    if (isAsciiUpper(code)) return String.fromCharCode(code + 32);
    if (code === 0x17f) return 's';
    return this.text[i] ?? '';
  }

  private wordAt(i: number): boolean {
    return i >= 0 && i < this.text.length && isWordCode(this.text.charCodeAt(i));
  }

  private boundaryAt(i: number): boolean {
    return this.wordAt(i - 1) !== this.wordAt(i);
  }

  private literalAt(i: number, literal: string): boolean {
    for (let k = 0; k < literal.length; k++) if (this.folded(i + k) !== literal[k]) return false;
    return true;
  }

  /** End of `e\.\s?g\b` or `eg\b` at i (preceded by a word boundary), or -1. */
  private abbreviationEnd(i: number): number {
    if (!this.boundaryAt(i) || this.folded(i) !== 'e') return -1;
    let j = i + 1;
    if (this.folded(j) === 'g') j += 1;
    else if (this.text[j] === '.') {
      j += 1;
      if (j < this.text.length && SINGLE_SPACE.test(this.text[j]) && this.folded(j + 1) === 'g') j += 2;
      else if (this.folded(j) === 'g') j += 1;
      else return -1;
    } else return -1;
    return this.boundaryAt(j) ? j : -1;
  }

  private phraseEnd(i: number, phrases: readonly string[], boundary: boolean): number {
    if (boundary && !this.boundaryAt(i)) return -1;
    for (const phrase of phrases) if (this.literalAt(i, phrase)) return i + phrase.length;
    return -1;
  }

  /** Whether a marker can start at i at all (e, f, 例, 比, 譬, 如): most characters are ruled out by this alone. */
  mayStartAt(i: number): boolean {
    return MARKER_FIRST_CODES.has(this.text.charCodeAt(i));
  }

  /** End of a clause marker starting at i (the regex's first branch, before its tail), or -1. */
  clauseMarkerEnd(i: number): number {
    if (!this.mayStartAt(i)) return -1;
    const abbreviation = this.abbreviationEnd(i);
    if (abbreviation >= 0) return this.text[abbreviation] === '.' ? abbreviation + 1 : abbreviation;
    const phrase = this.phraseEnd(i, ['for example', 'for instance'], true);
    if (phrase >= 0) return phrase;
    const chinese = this.phraseEnd(i, ['例如', '比如', '譬如'], false);
    if (chinese >= 0) return chinese;
    return this.text[i] === '如' && (this.text[i + 1] === ':' || this.text[i + 1] === '：') ? i + 2 : -1;
  }

  /** Whether a marker the parenthesis branch accepts starts at i. */
  parenthesisMarkerAt(i: number): boolean {
    if (!this.mayStartAt(i)) return false;
    return this.abbreviationEnd(i) >= 0 || this.phraseEnd(i, ['for example', '例如', '比如'], false) >= 0;
  }
}

export function withoutExamples(description: string): string {
  const n = description.length;
  const markers = new ExampleMarkers(description);
  // From the right: the next clause end, close parenthesis and parenthesis marker at or after each index.
  const nextClauseEnd = new Int32Array(n + 1).fill(n);
  const nextClose = new Int32Array(n + 1).fill(-1);
  const nextMarker = new Int32Array(n + 1).fill(-1);
  for (let i = n - 1; i >= 0; i--) {
    nextClauseEnd[i] = CLAUSE_END.has(description[i]) ? i : nextClauseEnd[i + 1];
    nextClose[i] = CLOSE_PAREN.has(description[i]) ? i : nextClose[i + 1];
    nextMarker[i] = markers.parenthesisMarkerAt(i) ? i : nextMarker[i + 1];
  }
  const kept: string[] = [];
  let keptFrom = 0; // start of the text not yet copied to `kept`
  let i = 0;
  while (i < n) {
    let removedTo = -1;
    const markerEnd = markers.clauseMarkerEnd(i);
    if (markerEnd >= 0) removedTo = nextClauseEnd[markerEnd];
    else if (OPEN_PAREN.has(description[i])) {
      const close = nextClose[i + 1];
      const marker = nextMarker[i + 1];
      if (close >= 0 && marker >= 0 && marker < close) removedTo = close + 1;
    }
    if (removedTo < 0) {
      i += 1;
      continue;
    }
    kept.push(description.slice(keptFrom, i), ' ');
    i = keptFrom = removedTo;
  }
  kept.push(description.slice(keptFrom));
  return kept.join('');
}

/**
 * How much a term in a function's parameter schema counts against one in its name or description:
 * the schema supports (a "city" or "amount" parameter says what the function is about) but its
 * example values and format notes ("例如 北京、上海", "YYYY-MM-DD") say little about which
 * messages the function is for.
 */
export const SCHEMA_TEXT_WEIGHT = 0.5;

/** The text a candidate is matched on: its name, description and function name, then the text of its parameter schema. */
export function candidateText(candidate: SimilarityCandidate, bounds: RoutingBounds = UNBOUNDED): { main: string; schema: string } {
  const schema: string[] = [];
  const budget = { left: bounds.schemaChars, descriptionChars: bounds.descriptionChars };
  if (candidate.parameters) schemaText(candidate.parameters, 0, schema, budget);
  const description = head(candidate.description ?? '', bounds.descriptionChars);
  return { main: [candidate.name, description, candidate.functionName ?? ''].join('\n'), schema: schema.join('\n') };
}

/** Weighted term frequencies of a candidate (BM25F-style: a schema term counts SCHEMA_TEXT_WEIGHT), and its weighted length. */
function candidateTerms(candidate: SimilarityCandidate, bounds: RoutingBounds): { counts: Map<string, number>; length: number } {
  const text = candidateText(candidate, bounds);
  const counts = new Map<string, number>();
  let length = 0;
  const add = (terms: string[], weight: number): void => {
    for (const t of terms) {
      counts.set(t, (counts.get(t) ?? 0) + weight);
      if (!isConcept(t)) length += weight;
    }
  };
  add(tokenize(text.main), 1);
  add(tokenize(text.schema), SCHEMA_TEXT_WEIGHT);
  return { counts, length };
}

function idf(n: number, containing: number): number {
  // The non-negative BM25 IDF: with two or three candidates the classic log((N - n + 0.5) / (n + 0.5)) is zero or negative.
  return Math.log(1 + (n - containing + 0.5) / (containing + 0.5));
}

/** Best first; equal scores by lower id. */
function byScore(a: SimilarityScore, b: SimilarityScore): number {
  return b.score - a.score || a.id - b.id;
}

/**
 * Every candidate's normalised BM25 score for the text (see SIMILARITY_THRESHOLD for the scale),
 * best first, ties by lower id. IDF and the average document length are computed over the
 * candidates given. Each distinct query term counts once; CJK unigrams at CJK_UNIGRAM_WEIGHT,
 * concept tokens at CONCEPT_WEIGHT. Cost per call: tokenising the message and each candidate's
 * text (linear in their length: a few map lookups per word or character for the lexicon, whose
 * compiled maps are built once per module load), then one pass over the query terms per
 * candidate. Candidates' terms are not cached between calls: a session has a handful of configs
 * (about 0.5 ms a call for the 11 configs of the evaluation set, against 0.3 ms without the lexicon).
 */
export function rankBySimilarity(
  text: string,
  candidates: readonly SimilarityCandidate[],
  bounds: RoutingBounds = UNBOUNDED,
): SimilarityScore[] {
  const n = candidates.length;
  if (n === 0) return [];
  const docs = candidates.map((c) => ({ id: c.id, ...candidateTerms(c, bounds) }));
  const avgLength = docs.reduce((sum, d) => sum + d.length, 0) / n || 1;
  const query = analyse(head(text, bounds.textChars));
  const queryTerms = [...new Set(query.words.concat(query.concepts.flatMap((c) => c.tokens)))];
  // For each concept of the message, the distinct lists of word terms it was read from (a message
  // repeating one word thousands of times has one list, not thousands).
  const conceptSources = new Map<string, string[][]>();
  const seenSources = new Set<string>();
  for (const c of query.concepts) {
    for (const token of c.tokens) {
      const key = `${token}\u0000${c.terms.join('\u0000')}`;
      if (seenSources.has(key)) continue;
      seenSources.add(key);
      const lists = conceptSources.get(token);
      if (lists) lists.push(c.terms);
      else conceptSources.set(token, [c.terms]);
    }
  }
  const scale = idf(n, 1);
  const documentFrequency = new Map(queryTerms.map((term) => [term, docs.filter((d) => d.counts.has(term)).length]));
  const scores = docs.map((doc) => {
    let score = 0;
    for (const term of queryTerms) {
      const count = doc.counts.get(term);
      if (!count) continue;
      // A concept is evidence where the words differ (下雨 against "forecast"); where the document
      // has the very word the message's concept came from, that word has scored already and the
      // concept would count it twice. (A one-character Chinese word has no source terms: its
      // unigram counts only CJK_UNIGRAM_WEIGHT, so its concept still counts.)
      if (conceptSources.get(term)?.some((terms) => terms.length > 0 && terms.every((t) => doc.counts.has(t)))) continue;
      const unigram = isCjkUnigram(term);
      const concept = isConcept(term);
      // A character that recurs in a document mostly recurs as part of its words (天 in 天气, 几天,
      // 天数), which count as bigrams already: a CJK unigram's frequency counts at most once.
      const tf = unigram ? Math.min(count, 1) : count;
      const saturation = (tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + (BM25_B * doc.length) / avgLength));
      const weight = unigram ? CJK_UNIGRAM_WEIGHT : concept ? CONCEPT_WEIGHT : 1;
      score += weight * idf(n, documentFrequency.get(term) ?? 0) * saturation;
    }
    // Rounded so that sums taken in another order or on another engine never flip a comparison.
    return { id: doc.id, score: Math.round((score / scale) * 1e9) / 1e9 };
  });
  return scores.sort(byScore);
}

/** The best candidate when its score reaches the threshold; otherwise undefined (the default LLM config answers). */
export function similarityMatch(
  text: string,
  candidates: readonly SimilarityCandidate[],
  threshold: number = SIMILARITY_THRESHOLD,
  bounds: RoutingBounds = UNBOUNDED,
): SimilarityMatch | undefined {
  const scores = rankBySimilarity(text, candidates, bounds);
  const best = scores[0];
  if (!best || best.score <= 0 || best.score < threshold) return undefined;
  const candidate = candidates.find((c) => c.id === best.id);
  return candidate && { candidate, score: best.score, scores };
}

// ---------------------------------------------------------------------------------------------
// Arguments without an LLM

function schemaTypes(schema: unknown): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const type = (schema as Record<string, unknown>).type;
  if (typeof type === 'string') return [type];
  return Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : [];
}

function isFreeString(schema: unknown): boolean {
  return schemaTypes(schema).includes('string') && !Array.isArray((schema as Record<string, unknown>).enum);
}

function isNumeric(schema: unknown): boolean {
  const types = schemaTypes(schema);
  return types.includes('number') || types.includes('integer');
}

/** Numbers written in the text, in order: 12, -3, 4.5 (not the digits inside words such as "mp3" or "A320"). */
function numbersIn(text: string): number[] {
  return [...text.normalize('NFKC').matchAll(/(?<![\p{L}\p{N}.])-?\d+(?:\.\d+)?(?![\p{L}\p{N}]|\.\d)/gu)].map((m) => Number(m[0]));
}

/**
 * Arguments for a function chosen without an LLM, taken from the message where the schema allows.
 * The rules, applied in this order:
 *
 * 1. No schema, or one with neither properties nor required names: `{}`.
 * 2. Free text: when exactly one *required* parameter is a string (without `enum`), it gets the
 *    whole message, trimmed; when nothing required is a string and the schema has exactly one
 *    property, a string, that one gets it. Otherwise no string parameter is filled.
 * 3. Numbers: when the required number/integer parameters are exactly as many as the numbers
 *    written in the message, they get them in order (the order of `required`); an integer
 *    parameter given a fraction is not filled.
 * 4. A required parameter still unfilled that has a `default` gets its default.
 * 5. Anything required still unfilled: `{ ok: false, missing }` with those names, in `required`
 *    order. Optional parameters other than the one of rule 2 are left out.
 *
 * The arguments are validated against the schema afterwards, as any arguments are.
 */
export function argumentsFromMessage(
  schema: Record<string, unknown> | null | undefined,
  text: string,
): { ok: true; arguments: Record<string, unknown> } | { ok: false; missing: string[] } {
  const rawProperties = schema?.properties;
  const properties: Record<string, unknown> =
    rawProperties !== null && typeof rawProperties === 'object' && !Array.isArray(rawProperties)
      ? (rawProperties as Record<string, unknown>)
      : {};
  const required = Array.isArray(schema?.required) ? [...new Set(schema.required.filter((r): r is string => typeof r === 'string'))] : [];
  const args: Record<string, unknown> = {};
  if (required.length === 0 && Object.keys(properties).length === 0) return { ok: true, arguments: args };

  const message = text.trim();
  const requiredStrings = required.filter((name) => isFreeString(properties[name]));
  const names = Object.keys(properties);
  const textTarget =
    requiredStrings.length === 1
      ? requiredStrings[0]
      : requiredStrings.length === 0 && names.length === 1 && isFreeString(properties[names[0]])
        ? names[0]
        : undefined;
  if (textTarget !== undefined && message) args[textTarget] = message;

  const requiredNumbers = required.filter((name) => isNumeric(properties[name]));
  const numbers = numbersIn(message);
  if (requiredNumbers.length > 0 && numbers.length === requiredNumbers.length) {
    requiredNumbers.forEach((name, i) => {
      const integerOnly = !schemaTypes(properties[name]).includes('number');
      if (!integerOnly || Number.isInteger(numbers[i])) args[name] = numbers[i];
    });
  }

  for (const name of required) {
    const property = properties[name];
    if (!(name in args) && property !== null && typeof property === 'object' && 'default' in property) {
      args[name] = (property as Record<string, unknown>).default;
    }
  }
  const missing = required.filter((name) => !(name in args));
  return missing.length > 0 ? { ok: false, missing } : { ok: true, arguments: args };
}
