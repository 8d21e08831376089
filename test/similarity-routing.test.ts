// The similarity router (routing without a router LLM): tokenisation, the concept lexicon, BM25
// scoring and its threshold, determinism, arguments taken from the message, and accuracy on the
// labelled sets test/fixtures/routing-eval.json (development) and routing-eval-holdout.json
// (held out) (the same evaluation `npm run eval:routing` prints).
import assert from 'node:assert/strict';
import {
  SIMILARITY_THRESHOLD,
  argumentsFromMessage,
  rankBySimilarity,
  similarityMatch,
  tokenize,
  type SimilarityCandidate,
} from '../routing';
import { CONCEPTS, compileLexicon } from '../routing/similarity-lexicon';
import { withoutExamples } from '../routing/similarity';
import { DEFAULT_LABEL, HOLDOUT_EVAL_FILE, evaluateRouting, loadEvalSet, type EvalSet } from '../scripts/eval-routing';

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
      // Words first, then the concept tokens the lexicon adds (one per lexicon word found).
      assert.deepEqual(tokenize('getWeatherForecast'), ['weath', 'forecast', '@weather', '@weather']);
      assert.deepEqual(tokenize('search_flights for the cities'), ['search', 'flight', 'city', '@flight']);
      assert.deepEqual(tokenize('Translating translated translation'), [
        'translat',
        'translat',
        'translat',
        ...Array(3).fill('@translate'),
      ]);
      // Task-generic verbs and nouns are stopwords.
      assert.deepEqual(tokenize('please look up and find the information'), []);
    });

    it('separates Latin words and numbers from adjacent Chinese', () => {
      // 用 is a stop character, 查询 ("look up") a generic verb.
      assert.deepEqual(tokenize('用SQL查询').slice(0, 2), ['sql', '询']);
      assert.ok(tokenize('100美元').includes('100'));
      assert.ok(tokenize('100美元').includes('美元'));
    });
  });

  describe('the concept lexicon', () => {
    const english = (text: string): string[] => tokenize(text).filter((t) => t.startsWith('@'));

    it('is of the intended size, and every form compiles to its concept', () => {
      const concepts = Object.keys(CONCEPTS);
      assert.ok(concepts.length >= 40 && concepts.length <= 60, String(concepts.length));
      for (const [concept, entry] of Object.entries(CONCEPTS)) {
        const en = entry.en.split(',').map((f) => f.trim());
        const zh = entry.zh.split(/\s+/).filter(Boolean);
        assert.ok(en.length >= 4 && zh.length >= 4, concept);
        for (const form of [...en.map((f) => f.replace(/^=/, '')), ...zh]) {
          assert.ok(tokenize(form).includes(`@${concept}`), `${concept}: ${form} → ${tokenize(form).join(' ')}`);
        }
      }
    });

    it('adds a concept for a word in either language, and leaves other text alone', () => {
      assert.deepEqual(english('明天会下雨吗'), ['@weather']);
      assert.deepEqual(english('will it rain tomorrow'), ['@weather']);
      assert.deepEqual(english('hi, how are you?'), []);
      assert.deepEqual(english('你好，你是谁'), []);
    });

    it('matches the longest word first, phrases over words, and exact forms as written', () => {
      assert.deepEqual(english('火车票'), ['@train']); // not 车 (a car)
      assert.deepEqual(english('what is the airport code'), ['@flight']); // not code (programming)
      assert.deepEqual(english('a new phone'), ['@phone']); // `=news` does not match "new"
      assert.deepEqual(english('set a timer'), ['@alarm']); // `=timer` is not "time"
      assert.deepEqual(english('不好意思'), []); // "sorry", though it contains 意思 "meaning"
    });

    it('compiles with the tokenisation it is given, and drops a phrase with a stopword in it', () => {
      const lexicon = compileLexicon((w) => (w === 'on' ? [] : [w]), { demo: { en: 'turn on, lamp', zh: '台灯' } }, { en: '', zh: '' });
      assert.deepEqual([...lexicon.latin.keys()], ['lamp']);
      assert.deepEqual([...lexicon.cjk.keys()].includes('台灯'), true);
    });

    it('lets a Chinese message reach a config described in English, and the reverse, through a concept', () => {
      const forecast: SimilarityCandidate = { id: 3, kind: 'llm', name: 'Forecaster', description: 'Weather forecasts for any city' };
      const lawyer: SimilarityCandidate = { id: 4, kind: 'llm', name: '法律顾问', description: '回答合同和劳动纠纷方面的问题' };
      const candidates = [coder, forecast, lawyer];
      // No word in common, only a concept: 下雨 → @weather ← forecast, weather.
      assert.ok(!tokenize('周末会下雨吗').some((t) => tokenize(forecast.description ?? '').includes(t) && !t.startsWith('@')));
      assert.equal(similarityMatch('周末会下雨吗', candidates)?.candidate.id, 3);
      assert.equal(similarityMatch('can my landlord break the lease? is that legal', candidates)?.candidate.id, 4);
      assert.equal(similarityMatch('这段代码为什么报错', candidates)?.candidate.id, 1);
    });

    it('does not let a generic verb alone reach the threshold', () => {
      const candidates = [weather, coder, translator, flights];
      for (const text of [
        '帮我查询一下',
        '查一下',
        '请帮我查查',
        'look it up',
        'can you find it for me?',
        'help me get some information',
      ]) {
        assert.equal(similarityMatch(text, candidates), undefined, `${text}: ${JSON.stringify(rankBySimilarity(text, candidates))}`);
      }
    });

    it('does not read example values in parameter descriptions', () => {
      assert.equal(withoutExamples('City name, e.g. Paris or London').trim(), 'City name,');
      assert.equal(withoutExamples('城市名称，例如北京、上海').trim(), '城市名称，');
      assert.equal(withoutExamples('Currency code (for example USD). Required.').replace(/\s+/g, ' '), 'Currency code . Required.');
      // The weather function's parameter says "e.g. Paris": a flight question naming Paris is not a weather question.
      const ranked = rankBySimilarity('Paris', [weather, coder]);
      assert.ok(
        ranked.every((s) => s.score === 0),
        JSON.stringify(ranked),
      );
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

  /** Accuracy floors and the most messages that may go to a wrong config, per set. */
  interface Floors {
    overall: number;
    en: number;
    zh: number;
    wrongConfig: number;
  }

  function evaluationSetTests(set: EvalSet, floors: Floors): void {
    const summary = evaluateRouting(set);

    it('has the shape the brief asks for', () => {
      assert.ok(set.configs.length >= 8);
      assert.ok(set.configs.filter((c) => c.config_type === 'function_call').length >= 3);
      assert.ok(set.configs.filter((c) => c.config_type === 'llm' && c.description).length >= 4);
      assert.ok(set.queries.length >= 50);
      assert.ok(set.queries.filter((q) => q.lang === 'zh').length >= 20);
      assert.ok(set.queries.filter((q) => q.lang === 'en').length >= 20);
      const smallTalk = set.queries.filter((q) => q.expected === DEFAULT_LABEL).length / set.queries.length;
      assert.ok(smallTalk >= 0.1 && smallTalk <= 0.16, String(smallTalk));
    });

    it(`routes at least ${floors.overall * 100}% of the messages right overall, ${floors.en * 100}% in English and ${floors.zh * 100}% in Chinese`, () => {
      assert.equal(summary.threshold, SIMILARITY_THRESHOLD);
      assert.ok(summary.overall.accuracy >= floors.overall, JSON.stringify(summary.overall));
      assert.ok(summary.byLanguage.en.accuracy >= floors.en, JSON.stringify(summary.byLanguage.en));
      assert.ok(summary.byLanguage.zh.accuracy >= floors.zh, JSON.stringify(summary.byLanguage.zh));
    });

    it('sends small talk to the default config and rarely picks a wrong config', () => {
      assert.equal(summary.byExpected[DEFAULT_LABEL].accuracy, 1, JSON.stringify(summary.misrouted));
      const wrongConfig = summary.misrouted.filter((m) => m.got !== DEFAULT_LABEL);
      assert.ok(wrongConfig.length <= floors.wrongConfig, JSON.stringify(wrongConfig));
    });

    it('sits on a plateau: the accuracy does not hinge on the exact threshold', () => {
      for (const threshold of [0.5, 0.6, 0.7]) {
        assert.equal(evaluateRouting(set, threshold).overall.correct, summary.overall.correct, `threshold ${threshold}`);
      }
    });
  }

  describe('the development set', () => {
    // Measured at the threshold of 0.7 with the concept lexicon: 95.7% overall (67/70), en 97.2%
    // (35/36), zh 94.1% (32/34), 1 message sent to a wrong config (without the lexicon: 70.0%,
    // 75.0%, 64.7%, 3). The router was built against this set, so it flatters it; the floors sit
    // one message under the figures, so a scorer that loses a message fails here.
    evaluationSetTests(loadEvalSet(), { overall: 0.94, en: 0.94, zh: 0.91, wrongConfig: 2 });
  });

  describe('the held-out set', () => {
    // test/fixtures/routing-eval-holdout.json, written after the lexicon and not tuned against
    // (other configs, other messages): 80.4% overall (45/56), en 78.6% (22/28), zh 82.1% (23/28),
    // 1 message sent to a wrong config (without the lexicon: 50.0%, 57.1%, 42.9%). The figure to
    // trust. Floors one message under.
    evaluationSetTests(loadEvalSet(HOLDOUT_EVAL_FILE), { overall: 0.78, en: 0.75, zh: 0.78, wrongConfig: 2 });
  });
});
