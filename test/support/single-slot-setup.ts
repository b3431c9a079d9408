import { installCommandSlotCheck, installSingleSlotCheck } from './single-slot';

// Every test file runs with the single-slot check on (jest.config.js `setupFilesAfterEnv`): any Lua script
// whose keys would span two Redis Cluster slots fails the file, whatever the test was about.
const violations = installSingleSlotCheck();
// So does every command, pipeline and transaction src/ sends (multi-key commands, raw EVAL, MULTI, pipelines).
const commandViolations = installCommandSlotCheck();

afterAll(() => {
  expect(violations).toEqual([]);
  expect(commandViolations).toEqual([]);
});
