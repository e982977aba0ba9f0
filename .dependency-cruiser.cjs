// The shape rules of conventions.md that an import can break, checked by `npm run lint` (depcruise).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module that reaches itself through its imports: split out what both sides need.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-app-to-app',
      severity: 'error',
      comment: 'Apps are the things that run; what two of them share belongs in a package.',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'no-package-to-app',
      severity: 'error',
      comment: 'Libraries never depend on the programs that use them.',
      from: { path: '^(packages|bench)/' },
      to: { path: '^apps/' },
    },
    {
      name: 'no-package-internals',
      severity: 'error',
      comment:
        'Another package is used through its name (@fleet/x) and what its package.json exports, never through its src/ files.',
      from: { path: '^(apps|packages)/([^/]+)/|^(bench)/' },
      to: {
        path: '^packages/[^/]+/src/',
        pathNot: ['^$1/$2/', '^packages/[^/]+/src/index\\.ts$', '^packages/testing/src/global-setup\\.ts$'],
      },
    },
    {
      name: 'not-in-package-json',
      severity: 'error',
      comment:
        'An npm package imported by a workspace whose package.json does not list it (knip lets a type import of ioredis ' +
        'pass when bullmq, which brings it, is listed).',
      from: {},
      // vitest is the repository's one test runner, a root devDependency that every workspace's tests use.
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'], pathNot: '^node_modules/vitest/' },
    },
    {
      name: 'no-dev-dependency-in-src',
      severity: 'error',
      comment: "What an app's or package's src/ imports is a dependency, not a devDependency: it runs in production.",
      from: { path: '^(apps|packages)/[^/]+/src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve (a typo, or a dependency that is not installed).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // node_modules stay in the graph as leaves (not-in-package-json reads them), only not followed.
    exclude: { path: '^packages/db/src/generated/' },
    // Type-only imports count: a cycle through types is still a cycle a reader has to untangle.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
  },
};
