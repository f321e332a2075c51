// @ts-check
import importX from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'temp/', 'node_modules/', 'coverage/', '.fnbox/', 'scratch/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
    },
    settings: {
      'import-x/resolver': { node: { extensions: ['.ts', '.js'] } },
      // Cycles are ours to find: never parse dependencies (PGlite's minified chunks overflow the parser).
      'import-x/ignore': ['node_modules'],
    },
  },
  {
    // Guest code runs inside QuickJS: plain JavaScript with web globals only.
    files: ['src/sandbox/prelude/**/*.js', 'src/host/**/*.js', 'examples/functions/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { globalThis: 'readonly' },
    },
  },
)
