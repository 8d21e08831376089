// The similarity router (routing without a router LLM): tokenisation, BM25 scoring and its
// threshold, determinism, arguments taken from the message, and accuracy on the labelled set
// test/fixtures/routing-eval.json (the same evaluation `npm run eval:routing` prints).
import assert from 'node:assert/strict';
import {
  SIMILARITY_THRESHOLD,
  argumentsFromMessage,
  rankBySimilarity,
  similarityMatch,
  tokenize,
  type SimilarityCandidate,
} from '../contract';
import { DEFAULT_LABEL, evaluateRouting, loadEvalSet } from '../scripts/eval-routing';

const weather: SimilarityCandidate = {
  id: 7,
  kind: 'function',
  name: '天气查询',
  description: '查询指定城市的实时天气和天气预报',
  functionName: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name, e.g. Paris' } }, required: ['city'] },
};
const coder: SimilarityCandidate = {
  id: 1,
  kind: 'llm',
  name: 'Code Assistant',
  description: 'Writes, explains and debugs Python and TypeScript code',
};
const translator: SimilarityCandidate = { id: 2, kind: 'llm', name: '中英翻译', description: '中文和英文之间的互译' };
const flights: SimilarityCandidate = {
  id: 8,
  kind: 'function',
  name: 'Flight Search',
  description: 'Search flights between two airports on a date',
  functionName: 'search_flights',
  parameters: {
    type: 'object',
    properties: {
      from: { type: 'string', description: 'Departure airport code' },
      to: { type: 'string', description: 'Arrival airport code' },
      date: { type: 'string', description: 'Departure date' },
    },
    required: ['from', 'to', 'date'],
  },
};

const SMALL_TALK = ['Hi, how are you?', 'Thanks a lot!', 'good night', 'lol ok', '你好', '谢谢你', '哈哈', '你是谁'];

describe('similarity routing', () => {
  describe('tokenize', () => {
    it('splits Chinese into character bigrams and unigrams, dropping particles', () => {
      const terms = tokenize('北京的天气');
      for (const t of ['北京', '天气', '北', '京', '天', '气']) assert.ok(terms.includes(t), `${t} in ${terms.join(' ')}`);
      assert.ok(!terms.includes('的') && !terms.includes('京的') && !terms.includes('的天'), terms.join(' '));
    });

    it('lowercases Latin words, splits camelCase and snake_case, strips light suffixes and stopwords', () => {
      assert.deepEqual(tokenize('getWeatherForecast'), ['weath', 'forecast']);
      assert.deepEqual(tokenize('search_flights for the cities'), ['search', 'flight', 'city']);
      assert.deepEqual(tokenize('Translating translated translation'), ['translat', 'translat', 'translat']);
    });

    it('separates Latin words and numbers from adjacent Chinese', () => {
      assert.deepEqual(tokenize('用SQL查询').slice(0, 2), ['sql', '查']);
      assert.ok(tokenize('100美元').includes('100'));
      assert.ok(tokenize('100美元').includes('美元'));
    });
  });

  describe('scoring', () => {
    it('is deterministic: identical inputs rank identically, whatever the order of the candidates', () => {
      const candidates = [weather, coder, translator, flights];
      const text = 'Find flights from Paris, and 天气 too';
      const first = rankBySimilarity(text, candidates);
      assert.deepEqual(rankBySimilarity(text, candidates), first);
      assert.deepEqual(rankBySimilarity(text, [...candidates].reverse()), first);
    });

    it('breaks ties by the lower id', () => {
      const twinA: SimilarityCandidate = { id: 5, kind: 'llm', name: 'Poems', description: 'Writes poems' };
      const twinB: SimilarityCandidate = { ...twinA, id: 3 };
      const ranked = rankBySimilarity('a poem please', [twinA, twinB]);
      assert.deepEqual(
        ranked.map((s) => s.id),
        [3, 5],
      );
      assert.equal(ranked[0].score, ranked[1].score);
      // Twins share every word, so neither reaches the threshold; with none, the lower id wins.
      assert.equal(similarityMatch('a poem please', [twinA, twinB]), undefined);
      assert.equal(similarityMatch('a poem please', [twinA, twinB], 0)?.candidate.id, 3);
    });

    it('keeps small talk below the threshold', () => {
      const candidates = [weather, coder, translator, flights];
      for (const text of SMALL_TALK) {
        assert.equal(similarityMatch(text, candidates), undefined, `${text}: ${JSON.stringify(rankBySimilarity(text, candidates))}`);
      }
    });

    it('works with a single config', () => {
      assert.equal(similarityMatch('What is the weather in Paris?', [weather])?.candidate.id, 7);
      assert.equal(similarityMatch('上海明天天气怎么样', [weather])?.candidate.id, 7);
      assert.equal(similarityMatch('hello there', [weather]), undefined);
      assert.deepEqual(rankBySimilarity('anything', []), []);
      assert.equal(similarityMatch('anything', []), undefined);
    });

    it('uses one threshold for small and larger config sets', () => {
      // One distinctive word is enough, with 2 configs as with 4.
      assert.equal(similarityMatch('debug my python', [coder, translator])?.candidate.id, 1);
      assert.equal(similarityMatch('debug my python', [coder, translator, weather, flights])?.candidate.id, 1);
      assert.equal(similarityMatch('帮我翻译这句话', [coder, translator])?.candidate.id, 2);
      assert.equal(similarityMatch('帮我翻译这句话', [coder, translator, weather, flights])?.candidate.id, 2);
      // A word every config shares is no evidence (non-negative IDF: a low score, never a negative one).
      const a: SimilarityCandidate = { id: 1, kind: 'llm', name: 'Assistant A', description: 'assistant for tax questions' };
      const b: SimilarityCandidate = { id: 2, kind: 'llm', name: 'Assistant B', description: 'assistant for garden questions' };
      const shared = rankBySimilarity('assistant', [a, b]);
      assert.ok(
        shared.every((s) => s.score > 0 && s.score < SIMILARITY_THRESHOLD),
        JSON.stringify(shared),
      );
      assert.equal(similarityMatch('my garden', [a, b])?.candidate.id, 2);
    });

    it('matches function names and parameter descriptions', () => {
      const match = similarityMatch('departure from SFO, what airport code is that', [coder, translator, weather, flights]);
      assert.equal(match?.candidate.id, 8);
      assert.deepEqual(
        match.scores.map((s) => s.id),
        rankBySimilarity('departure from SFO, what airport code is that', [coder, translator, weather, flights]).map((s) => s.id),
      );
    });
  });

  describe('argumentsFromMessage', () => {
    it('gives no arguments when the schema has none', () => {
      assert.deepEqual(argumentsFromMessage(null, 'hi'), { ok: true, arguments: {} });
      assert.deepEqual(argumentsFromMessage({ type: 'object', properties: {} }, 'hi'), { ok: true, arguments: {} });
    });

    it('gives the whole message to the one string parameter', () => {
      assert.deepEqual(argumentsFromMessage(weather.parameters, '  Paris weather?  '), { ok: true, arguments: { city: 'Paris weather?' } });
      const optionalOnly = { type: 'object', properties: { song: { type: 'string' } } };
      assert.deepEqual(argumentsFromMessage(optionalOnly, 'play jazz'), { ok: true, arguments: { song: 'play jazz' } });
    });

    it('lists the required parameters it cannot fill', () => {
      assert.deepEqual(argumentsFromMessage(flights.parameters, 'flights to Tokyo'), { ok: false, missing: ['from', 'to', 'date'] });
      const currency = {
        type: 'object',
        properties: { amount: { type: 'number' }, from: { type: 'string' }, to: { type: 'string' } },
        required: ['amount', 'from', 'to'],
      };
      assert.deepEqual(argumentsFromMessage(currency, 'convert 100 USD to EUR'), { ok: false, missing: ['from', 'to'] });
    });

    it('fills required numbers when the message has exactly as many, in order', () => {
      const schema = {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'integer' }, note: { type: 'string' } },
        required: ['a', 'b'],
      };
      assert.deepEqual(argumentsFromMessage(schema, 'add 2.5 and 4'), { ok: true, arguments: { a: 2.5, b: 4 } });
      assert.deepEqual(argumentsFromMessage(schema, 'add 2.5 and 4.5'), { ok: false, missing: ['b'] });
      assert.deepEqual(argumentsFromMessage(schema, 'add 1, 2 and 3'), { ok: false, missing: ['a', 'b'] });
    });
  });

  describe('the evaluation set', () => {
    // Measured at the threshold of 0.7: 70.0% overall (49/70), en 75.0% (27/36), zh 64.7% (22/34),
    // 3 messages sent to a wrong config (the rest of the misses fall back to the default LLM config,
    // mostly a Chinese message to an English description or the reverse, or a synonym the
    // description lacks). The floors sit one or two messages under those figures, so a scorer
    // that loses a few messages fails here; a lexical router cannot honestly promise 85%.
    const set = loadEvalSet();
    const summary = evaluateRouting(set);

    it('has the shape the brief asks for', () => {
      assert.ok(set.configs.length >= 8);
      assert.ok(set.configs.filter((c) => c.config_type === 'function_call').length >= 3);
      assert.ok(set.configs.filter((c) => c.config_type === 'llm' && c.description).length >= 4);
      assert.ok(set.queries.length >= 60);
      assert.ok(set.queries.filter((q) => q.lang === 'zh').length >= 25);
      assert.ok(set.queries.filter((q) => q.lang === 'en').length >= 25);
      const smallTalk = set.queries.filter((q) => q.expected === DEFAULT_LABEL).length / set.queries.length;
      assert.ok(smallTalk >= 0.1 && smallTalk <= 0.16, String(smallTalk));
    });

    it('routes at least 67% of the messages right overall, 72% in English and 61% in Chinese', () => {
      assert.equal(summary.threshold, SIMILARITY_THRESHOLD);
      assert.ok(summary.overall.accuracy >= 0.67, JSON.stringify(summary.overall));
      assert.ok(summary.byLanguage.en.accuracy >= 0.72, JSON.stringify(summary.byLanguage.en));
      assert.ok(summary.byLanguage.zh.accuracy >= 0.61, JSON.stringify(summary.byLanguage.zh));
    });

    it('sends small talk to the default config and rarely picks a wrong config', () => {
      assert.equal(summary.byExpected[DEFAULT_LABEL].accuracy, 1, JSON.stringify(summary.misrouted));
      const wrongConfig = summary.misrouted.filter((m) => m.got !== DEFAULT_LABEL);
      assert.ok(wrongConfig.length <= 4, JSON.stringify(wrongConfig));
    });

    it('sits on a plateau: the accuracy does not hinge on the exact threshold', () => {
      for (const threshold of [0.5, 0.6, 0.7]) {
        assert.equal(evaluateRouting(set, threshold).overall.correct, summary.overall.correct, `threshold ${threshold}`);
      }
    });
  });
});
