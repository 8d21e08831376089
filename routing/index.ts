// Routing: the rules both the workflow (deterministic) and the answer activity apply, and the
// description-similarity router they fall back to without a router LLM. Pure: no Node imports, no
// clock, no randomness; the workflow bundle includes this layer. It imports only contract/.
export * from './rules';
export * from './similarity';
export * from './device-tools';
