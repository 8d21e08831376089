// Flat config: typed linting for the whole repo; Node built-ins are kept out of workflows/
// because workflow code must stay deterministic and runs in Temporal's sandbox.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tools/**', 'dist/**', 'scripts/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['node:*', 'fs', 'path', 'crypto', 'http', 'https', 'net', 'os', 'child_process', '../db/*', '../activities/*', '../lib/*', '../config/*'], message: 'Workflow code must be deterministic: only @temporalio/workflow and workflow-safe modules.' }],
      }],
    },
  },
);
