import { ChannelsConfig } from '../../src/config/channels-config';
import { testConfig } from './test-config';

/** The `channels` block of a test configuration with `overrides` (flat `channels.*` keys). */
export function buildChannels(overrides: Record<string, unknown> = {}): ChannelsConfig {
  return testConfig(overrides).channels;
}
