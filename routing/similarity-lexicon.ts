// A bilingual concept lexicon for the similarity router (routing/similarity.ts): common words of
// the domains people configure assistants and tools for, in English and Chinese, mapped to shared
// concept tokens (`天气`, `rain` and `forecast` all add `@weather`). It bridges what plain lexical
// matching cannot: a Chinese message to a config described in English and the reverse, and
// synonyms a description lacks. It was written from general knowledge of these domains, not from
// the evaluation sets' messages. Pure data and lookups (no Node imports): the workflow bundle
// includes it.
//
// Format: `en` is a comma-separated list of English words or phrases (matched on the router's
// stems, so `flight` also matches `flights`; a phrase matches its words in a row, and a longer
// match wins over a shorter one, so `airport code` is a flight term and not a programming one). A
// form written `=word` matches that exact word only, not every word with its stem (`=news` must
// not match `new`). `zh` is a space-separated list of Chinese words, matched as substrings of a
// run of Chinese characters, longest first. A word may belong to several concepts (`ticket`).

export interface ConceptEntry {
  en: string;
  zh: string;
}

export const CONCEPTS: Readonly<Record<string, ConceptEntry>> = {
  weather: {
    en: 'weather, forecast, rain, rainy, raining, snow, snowing, temperature, humidity, wind, windy, sunny, cloudy, storm, umbrella, celsius, fahrenheit, typhoon, hurricane, air quality',
    zh: '天气 预报 下雨 下雪 降雨 降雪 气温 温度 湿度 刮风 风力 台风 晴天 阴天 雨伞 带伞 暴雨 雷阵雨 雾霾 空气质量 冷不冷 热不热',
  },
  flight: {
    en: 'flight, airline, airport, airplane, =plane, =planes, =fly, =flying, layover, =boarding, =ticket, =tickets, airfare, airport code, iata',
    zh: '机票 航班 飞机 机场 登机 航空 直飞 转机 经停 飞往 起飞 降落 值机',
  },
  train: {
    en: '=train, =trains, railway, rail, =ticket, =tickets, high-speed rail',
    zh: '火车 高铁 动车 车票 列车 铁路 车次 火车票 高铁票',
  },
  travel: {
    en: 'travel, trip, itinerary, vacation, holiday, tour, tourist, sightseeing, visa, attraction, destination',
    zh: '旅游 旅行 行程 景点 签证 度假 出行 攻略 自由行 门票 游玩',
  },
  hotel: {
    en: 'hotel, hostel, motel, accommodation, lodging, airbnb, resort',
    zh: '酒店 宾馆 住宿 民宿 旅馆 入住 客房 订房',
  },
  transit: {
    en: 'taxi, uber, =bus, subway, metro, commute, traffic, =cab',
    zh: '打车 出租车 公交 地铁 交通 堵车 网约车 滴滴',
  },
  map: {
    en: 'map, route, navigate, navigation, =direction, =directions, distance, address, location, nearby, zip code, postal code',
    zh: '地图 路线 导航 怎么走 距离 地址 位置 附近 路况 多远',
  },
  translate: {
    en: 'translate, translation, translator, english, chinese, japanese, french, german, spanish, korean, russian, language, interpret, interpreter',
    zh: '翻译 英文 中文 英语 汉语 日语 日文 法语 德语 韩语 俄语 西班牙语 外语 译成 译为 怎么说',
  },
  code: {
    en: 'code, coding, program, programming, programmer, developer, software, bug, debug, exception, compile, compiler, script, python, javascript, typescript, java, golang, rust, sql, regex, git, algorithm, refactor, unit test, stack trace, source code, syntax error',
    zh: '代码 编程 程序 报错 调试 算法 脚本 开发 写代码 写程序 编译 程序员 正则',
  },
  database: {
    en: 'database, sql, mysql, postgres, postgresql, sqlite, mongodb, schema, =table, =tables',
    zh: '数据库 数据表 建表 索引',
  },
  health: {
    en: 'doctor, symptom, medicine, medication, health, illness, sick, disease, pain, headache, fever, cough, flu, hospital, clinic, diagnosis, treatment, allergy, pill, dose, dosage, nurse, insomnia, stomachache, injury, blood pressure, heart rate',
    zh: '医生 症状 药 吃药 药物 头疼 头痛 发烧 咳嗽 感冒 生病 医院 健康 疾病 治疗 看病 过敏 疼 痛 不舒服 失眠 血压 拉肚子 肚子疼 嗓子 挂号',
  },
  fitness: {
    en: 'exercise, workout, fitness, gym, diet, calorie, yoga, jogging, muscle, protein, nutrition, lose weight',
    zh: '健身 锻炼 运动 减肥 跑步 卡路里 热量 饮食 瑜伽 增肌 营养 瘦身',
  },
  mental: {
    en: 'stress, anxiety, anxious, depressed, depression, lonely, mood, emotion, therapy, therapist, mental, counseling',
    zh: '心情 焦虑 抑郁 压力 情绪 心理 孤独 伤心 失恋 崩溃 烦躁',
  },
  legal: {
    en: 'law, lawyer, legal, contract, lawsuit, court, attorney, regulation, clause, liability, =sue, agreement, copyright, tenant rights',
    zh: '合同 法律 律师 起诉 诉讼 法院 条款 违约 维权 劳动法 侵权 法规 协议 赔偿 仲裁 合法 违法',
  },
  currency: {
    en: 'currency, forex, dollar, usd, eur, euro, =yen, rmb, cny, gbp, jpy, exchange rate, exchange, =convert, currency code',
    zh: '汇率 兑换 美元 欧元 日元 人民币 英镑 外汇 换汇 港币 换钱 货币',
  },
  finance: {
    en: 'finance, financial, investment, invest, budget, =tax, =taxes, loan, mortgage, interest rate, bank, =savings, money, fund, retirement, pension, =accounting',
    zh: '理财 投资 预算 个税 报税 税 贷款 房贷 利息 利率 银行 存款 基金 养老金 记账 财务 省钱',
  },
  stock: {
    en: 'stock, =stocks, ticker, nasdaq, nyse, equity, dividend, portfolio, share price, stock market, stock price, trading',
    zh: '股票 股价 股市 大盘 美股 港股 行情 炒股 证券 涨停 跌停 市值 个股',
  },
  crypto: {
    en: 'bitcoin, crypto, cryptocurrency, ethereum, blockchain, btc, eth, wallet',
    zh: '比特币 加密货币 区块链 以太坊 数字货币 币价',
  },
  insurance: {
    en: 'insurance, insurer, premium, claim, coverage',
    zh: '保险 理赔 保费 医保 社保 投保',
  },
  calendar: {
    en: 'meeting, calendar, schedule, appointment, event, agenda, remind, reminder, deadline, todo, checklist, reschedule',
    zh: '会议 日程 提醒 开会 预约 日历 待办 待办事项 行事历',
  },
  alarm: {
    en: 'alarm, =timer, =timers, countdown, stopwatch, =wake',
    zh: '闹钟 定时 倒计时 计时 叫醒 起床',
  },
  time: {
    en: 'time, clock, timezone, time zone, =hour',
    zh: '时间 几点 时区 点钟 钟点 北京时间',
  },
  email: {
    en: 'email, e-mail, mail, inbox, email address, gmail, outlook, =reply, newsletter',
    zh: '邮件 邮箱 电邮 发信 回信 收件箱',
  },
  phone: {
    en: 'phone, sms, =call, contact, =text message, area code, country code',
    zh: '电话 短信 联系人 打电话 手机号 通讯录',
  },
  social: {
    en: 'twitter, tweet, instagram, facebook, tiktok, wechat, weibo, social media, followers',
    zh: '微博 微信 朋友圈 抖音 小红书 公众号 粉丝 发帖',
  },
  music: {
    en: 'music, song, playlist, album, artist, singer, lyric, lyrics, spotify, melody, band, concert',
    zh: '音乐 歌 歌曲 歌词 歌手 专辑 听歌 曲子 旋律 乐队 演唱会 唱',
  },
  video: {
    en: 'movie, film, =tv, netflix, video, youtube, cinema, =series, episode, trailer',
    zh: '电影 电视剧 视频 影片 综艺 看片 美剧 动漫 追剧 影院',
  },
  book: {
    en: 'book, =reading, author, library, novel, literature, ebook',
    zh: '书 读书 书籍 阅读 作者 图书 小说 名著 书单',
  },
  news: {
    en: '=news, headline, headlines, breaking news, current events, journalism',
    zh: '新闻 头条 时事 热点 资讯 快讯 报道',
  },
  sports: {
    en: 'sport, football, soccer, basketball, baseball, tennis, nba, nfl, league, olympic, world cup, playoff',
    zh: '体育 足球 篮球 网球 比赛 比分 球队 联赛 赛事 世界杯 奥运',
  },
  game: {
    en: 'game, gaming, gamer, steam, playstation, xbox, nintendo, esports',
    zh: '游戏 玩游戏 电竞 手游 网游 攻略',
  },
  math: {
    en: 'math, maths, mathematics, calculate, calculator, equation, formula, arithmetic, algebra, geometry, calculus, multiply, divide, percent, percentage, =sum, square root, integral, derivative',
    zh: '数学 计算 算一下 算算 方程 公式 等于 乘以 除以 加上 减去 百分比 求解 几何 微积分 平方根 开方',
  },
  units: {
    en: 'unit, =convert, conversion, =meter, =meters, =metre, kilometer, mile, kilogram, =kg, =lb, =pound, =pounds, inch, =feet, =foot, gallon, liter',
    zh: '换算 单位 公里 英里 公斤 千克 英寸 英尺 厘米 毫米 加仑 磅',
  },
  shopping: {
    en: 'shopping, =shop, =buy, purchase, =order, =orders, product, price, cart, discount, coupon, refund, deal, =store',
    zh: '购物 买 购买 订单 商品 价格 优惠 优惠券 退货 退款 网购 下单 淘宝 京东 多少钱 打折 便宜',
  },
  delivery: {
    en: 'delivery, deliver, shipping, shipment, package, parcel, =tracking, courier, =order, =orders, tracking number',
    zh: '快递 物流 发货 包裹 送货 配送 运单 快递单 签收 到货 订单',
  },
  restaurant: {
    en: 'restaurant, food, =eat, dinner, lunch, breakfast, cafe, menu, cuisine, takeout, reservation',
    zh: '餐厅 饭店 美食 吃饭 午饭 晚饭 早餐 午餐 晚餐 外卖 好吃 馆子 订座 吃',
  },
  recipe: {
    en: 'recipe, cook, cooking, bake, baking, ingredient, kitchen, dish, meal',
    zh: '菜谱 食谱 做饭 烹饪 做菜 食材 烘焙 炒菜 炖 红烧 蒸 菜 家常菜',
  },
  writing: {
    en: 'write, writer, writing, story, poem, poetry, essay, article, fiction, copywriting, blog, draft, slogan, lyricist, screenplay',
    zh: '写 写作 诗 诗歌 古诗 故事 作文 文章 文案 散文 创作 剧本 写一篇 小作文 童话',
  },
  summary: {
    en: 'summarize, summarise, summary, tldr, condense, =abstract, key points, recap',
    zh: '总结 摘要 概括 归纳 提炼 要点 概要',
  },
  grammar: {
    en: 'grammar, proofread, spelling, typo, polish, rewrite, paraphrase, =edit, =wording',
    zh: '语法 润色 改写 校对 错别字 病句 措辞',
  },
  dictionary: {
    en: 'dictionary, definition, define, meaning, synonym, antonym, pronunciation, pronounce, idiom, vocabulary',
    zh: '词典 字典 意思 释义 同义词 反义词 发音 成语 单词 词汇 含义',
  },
  education: {
    en: 'learn, study, homework, exam, lesson, tutor, teacher, school, student, course, quiz, university, college',
    zh: '学习 作业 考试 课程 老师 学校 学生 辅导 复习 习题 大学 高考 考研 题目',
  },
  career: {
    en: 'job, =career, =careers, resume, =cv, interview, hiring, recruiter, salary, promotion, =jobs',
    zh: '简历 面试 求职 招聘 职业 跳槽 工资 薪水 升职 找工作',
  },
  pet: {
    en: 'pet, dog, cat, puppy, kitten, vet, veterinarian',
    zh: '宠物 狗 猫 小狗 小猫 兽医 狗粮 猫粮 养狗 养猫',
  },
  garden: {
    en: 'garden, gardening, plant, =flower, =flowers, soil, seed, houseplant, =watering',
    zh: '花园 植物 花草 鲜花 开花 种花 养花 浇水 园艺 多肉 盆栽 施肥',
  },
  smarthome: {
    en: 'light, lights, lamp, thermostat, smart home, air conditioner, heater, curtain, turn off, switch off',
    zh: '灯 开灯 关灯 空调 智能家居 家电 插座 窗帘 暖气 扫地机',
  },
  car: {
    en: 'car, =cars, vehicle, engine, tire, tyre, fuel, =parking, =drive, driving, driver, mechanic',
    zh: '汽车 开车 加油 停车 轮胎 保养 驾照 车 车辆 油耗 充电桩',
  },
  housing: {
    en: 'house, apartment, =rent, rental, landlord, tenant, property, real estate, lease',
    zh: '房子 租房 房租 房东 买房 房价 公寓 二手房 租金 楼盘',
  },
  image: {
    en: 'image, photo, picture, drawing, =draw, illustration, logo, paint, painting, avatar, wallpaper',
    zh: '图片 照片 画 画图 绘画 图像 插画 头像 壁纸 画一张 生成图',
  },
  document: {
    en: 'document, =file, =files, pdf, excel, spreadsheet, =word doc, powerpoint, =slides, docx',
    zh: '文档 文件 表格 幻灯片 演示文稿 附件',
  },
  data: {
    en: 'data, dataset, analysis, analyze, analyse, analytics, chart, graph, statistics, csv, visualization, visualize',
    zh: '数据 分析 图表 统计 报表 可视化 数据集',
  },
  web: {
    en: 'web, internet, google, online, website, browse, webpage, bing',
    zh: '网上 搜索 上网 网页 百度 谷歌 网站 联网 搜一下 搜搜',
  },
  security: {
    en: 'password, login, =account, security, hacker, phishing, 2fa, authentication',
    zh: '密码 登录 账号 账户 黑客 诈骗 验证码',
  },
  support: {
    en: 'complaint, customer service, customer support, warranty, after-sales',
    zh: '客服 投诉 售后 保修 退换',
  },
  parenting: {
    en: 'baby, child, children, =kid, =kids, toddler, parenting, infant',
    zh: '宝宝 孩子 育儿 婴儿 小孩 儿童 带娃',
  },
  astrology: {
    en: 'horoscope, zodiac, astrology, tarot, fortune',
    zh: '星座 运势 算命 塔罗 占卜 生肖',
  },
};

/**
 * Phrases that contain a lexicon word without being about its domain (不好意思 "sorry" contains
 * 意思 "meaning"; "long time" is no clock): they are matched like lexicon words, longest first,
 * and add no concept.
 */
export const NOT_CONCEPTS: ConceptEntry = {
  en: 'long time, spare time, free time, good time, have fun',
  zh: '不好意思 好意思 有意思 没意思 意思意思 好久不见 有时间 没时间 花时间 东西',
};

/** A compiled lexicon: phrases keyed by their stems joined with a space, Chinese words, and the longest of each. */
export interface CompiledLexicon {
  /** Stem sequences (`airport cod`) to concept tokens; one-word entries too. */
  latin: Map<string, string[]>;
  /** Words that match only as written (`news`), to concept tokens. */
  exact: Map<string, string[]>;
  maxPhraseWords: number;
  cjk: Map<string, string[]>;
  maxCjkLength: number;
}

/** The token a concept adds, `@weather`: `@` cannot occur in a word token. */
export const conceptToken = (concept: string): string => `@${concept}`;

/** Adds a concept token to a key's list; an empty token (NOT_CONCEPTS) only makes the key known. */
function addTo(map: Map<string, string[]>, key: string, token: string): void {
  const tokens = map.get(key) ?? [];
  map.set(key, tokens);
  if (token && !tokens.includes(token)) tokens.push(token);
}

/**
 * Compiles the lexicon with the router's own Latin tokenisation (`stems` turns one word into its
 * stems, possibly none for a stopword, or several for a camelCase word), so that a lexicon form
 * and the same word in a message always give the same stems. Entries whose words are all
 * stopwords compile to nothing.
 */
export function compileLexicon(
  stems: (word: string) => string[],
  concepts: Readonly<Record<string, ConceptEntry>> = CONCEPTS,
  notConcepts: ConceptEntry = NOT_CONCEPTS,
): CompiledLexicon {
  const lexicon: CompiledLexicon = { latin: new Map(), exact: new Map(), maxPhraseWords: 1, cjk: new Map(), maxCjkLength: 1 };
  const entries: [string, ConceptEntry][] = [...Object.entries(concepts).map(([c, e]): [string, ConceptEntry] => [conceptToken(c), e])];
  entries.push(['', notConcepts]);
  for (const [token, entry] of entries) {
    for (const raw of entry.en.split(',')) {
      const form = raw.trim().toLowerCase();
      if (!form) continue;
      if (form.startsWith('=') && !form.includes(' ')) {
        addTo(lexicon.exact, form.slice(1), token);
        continue;
      }
      // A phrase one of whose words is a stopword would match on its other words alone: left out.
      const parts = form
        .replace(/^=/, '')
        .split(/[\s-]+/)
        .filter(Boolean)
        .map(stems);
      if (parts.length === 0 || parts.some((p) => p.length === 0)) continue;
      const words = parts.flat();
      addTo(lexicon.latin, words.join(' '), token);
      lexicon.maxPhraseWords = Math.max(lexicon.maxPhraseWords, words.length);
    }
    for (const word of entry.zh.split(/\s+/)) {
      if (!word) continue;
      if (/^[\p{Script=Han}]+$/u.test(word)) {
        addTo(lexicon.cjk, word, token);
        lexicon.maxCjkLength = Math.max(lexicon.maxCjkLength, [...word].length);
      } else {
        // A Latin word in the Chinese list: it is matched as a Latin word.
        const words = stems(word.toLowerCase());
        if (words.length > 0) addTo(lexicon.latin, words.join(' '), token);
      }
    }
  }
  return lexicon;
}

/** A lexicon word found in a text: the concept tokens it adds, and the text's terms it was read from. */
export interface ConceptMatch {
  tokens: readonly string[];
  /** The stems of the matched Latin words, or the bigrams of a Chinese word of two or more characters (none for one character). */
  terms: string[];
}

/**
 * The concepts of a sequence of Latin words (as written, lowercased) and their stems, in order: at
 * each position the longest phrase that matches wins and its words are consumed; a word in the
 * exact list matches as written. Cost: O(words × maxPhraseWords) map lookups.
 */
export function latinConcepts(words: readonly { word: string; stem: string }[], lexicon: CompiledLexicon, out: ConceptMatch[]): void {
  let i = 0;
  while (i < words.length) {
    let matched = 0;
    for (let len = Math.min(lexicon.maxPhraseWords, words.length - i); len >= 1 && matched === 0; len--) {
      const terms = words.slice(i, i + len).map((w) => w.stem);
      // A word listed as written is more specific than a stem (`timer` is not `time`).
      const tokens = (len === 1 ? lexicon.exact.get(words[i].word) : undefined) ?? lexicon.latin.get(terms.join(' '));
      if (tokens) {
        if (tokens.length > 0) out.push({ tokens, terms });
        matched = len;
      }
    }
    i += matched || 1;
  }
}

/**
 * The concepts of a run of Chinese characters, by forward maximum matching: at each position the
 * longest lexicon word starting there is taken and skipped over (so `火车票` is a train ticket, not
 * 车 a car); where none starts, the next character is tried. Cost: O(length × maxCjkLength) map
 * lookups.
 */
export function cjkConcepts(run: string, lexicon: CompiledLexicon, out: ConceptMatch[]): void {
  const chars = [...run];
  let i = 0;
  while (i < chars.length) {
    let matched = 0;
    for (let len = Math.min(lexicon.maxCjkLength, chars.length - i); len >= 1 && matched === 0; len--) {
      const tokens = lexicon.cjk.get(chars.slice(i, i + len).join(''));
      if (tokens) {
        const terms: string[] = [];
        for (let j = i; j + 1 < i + len; j++) terms.push(chars[j] + chars[j + 1]);
        if (tokens.length > 0) out.push({ tokens, terms });
        matched = len;
      }
    }
    i += matched || 1;
  }
}
