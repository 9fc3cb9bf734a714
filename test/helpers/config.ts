import { parseConfig, type Config } from '../../src/config.ts';

/** The service's defaults (parseConfig({})) with some variables set. */
export function testConfig(overrides: Partial<Record<keyof Config, string>> = {}): Config {
  return parseConfig(overrides);
}
