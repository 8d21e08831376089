// The scrubber lives in lib/ so layers below llm/ (functions/) share it; llm/ keeps its old import path.
export { scrubSecrets } from '../lib/scrub';
