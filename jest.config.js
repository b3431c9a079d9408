/**
 * Tests run from TypeScript sources; `npm run build` (pretest) type-checks them first, so ts-jest only transpiles:
 * `isolatedModules` in tsconfig.jest.json (where ts-jest reads it; its own option of that name is deprecated).
 */
module.exports = {
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json', diagnostics: false }] },
  testEnvironment: 'node',
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Every Lua script run in a test must keep its keys in one Redis Cluster slot (src/redis/key-layout.ts).
  setupFilesAfterEnv: ['<rootDir>/test/support/single-slot-setup.ts'],
  testTimeout: 30000,
  // Integration tests own real sockets; a leak should show, not hang CI.
  forceExit: true,
};
