// The provider types this build supports. Every one is reached through the OpenAI-compatible
// chat completions API (the openai SDK), so a provider is just a default base URL.

export interface ProviderType {
  type: string;
  label: string;
  /** Used when a config has no base_url; `custom` has none and requires one. */
  defaultBaseUrl: string | null;
}

export const PROVIDER_TYPES: readonly ProviderType[] = [
  { type: 'openai', label: 'OpenAI or any OpenAI-compatible endpoint', defaultBaseUrl: 'https://api.openai.com/v1' },
  { type: 'qwen', label: 'Qwen (DashScope compatible mode)', defaultBaseUrl: 'https://dashscope.aliyuncs.com/compatible-mode/v1' },
  { type: 'chatglm', label: 'ChatGLM (Zhipu BigModel)', defaultBaseUrl: 'https://open.bigmodel.cn/api/paas/v4' },
  { type: 'ollama', label: 'Ollama (OpenAI-compatible /v1)', defaultBaseUrl: 'http://127.0.0.1:11434/v1' },
  { type: 'deepseek', label: 'DeepSeek', defaultBaseUrl: 'https://api.deepseek.com/v1' },
  { type: 'moonshot', label: 'Moonshot (Kimi)', defaultBaseUrl: 'https://api.moonshot.cn/v1' },
  { type: 'custom', label: 'Custom OpenAI-compatible endpoint (base_url required)', defaultBaseUrl: null },
];

export const LLM_TYPE_NAMES = PROVIDER_TYPES.map((p) => p.type) as [string, ...string[]];

export function providerType(type: string): ProviderType | undefined {
  return PROVIDER_TYPES.find((p) => p.type === type);
}

/** The URL a config's requests go to. */
export function effectiveBaseUrl(llmType: string | null, baseUrl: string | null): string | null {
  return baseUrl ?? providerType(llmType ?? 'openai')?.defaultBaseUrl ?? null;
}
