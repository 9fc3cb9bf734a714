import { z } from 'zod';

// Which versions of a model are served: config.json `version_policy`, with Triton's model configuration
// names. Exactly one of
//   {"latest": {"num_versions": N}}   the N highest versions in the repository (the default, N = 1)
//   {"all": {}}                       every version in the repository
//   {"specific": {"versions": [..]}}  the listed versions, those of them that are in the repository
// The policy is applied to the version directories present in the repository, whether or not their
// files are complete yet (src/models/scan.ts decides when a version may be loaded).

/** Largest version number: the version directory name is at most nine digits. */
export const MAX_VERSION = 999_999_999;

const versionNumber = z
  .number({ message: 'a version is a positive integer' })
  .int({ message: 'a version is a positive integer' })
  .min(1, { message: 'a version is a positive integer' })
  .max(MAX_VERSION, { message: `a version is at most ${MAX_VERSION}` });

export const versionPolicySchema = z
  .strictObject({
    latest: z
      .strictObject({
        num_versions: z
          .number({ message: 'num_versions is a positive integer' })
          .int({ message: 'num_versions is a positive integer' })
          .min(1, { message: 'num_versions is a positive integer' })
          .max(1000, { message: 'num_versions is at most 1000' }),
      })
      .optional(),
    all: z.strictObject({}).optional(),
    specific: z
      .strictObject({
        versions: z
          .array(versionNumber)
          .min(1, { message: 'list at least one version' })
          .refine((v) => new Set(v).size === v.length, { message: 'a version is listed twice' }),
      })
      .optional(),
  })
  .refine((p) => [p.latest, p.all, p.specific].filter((x) => x !== undefined).length === 1, {
    message: 'exactly one of {"latest": {"num_versions": N}}, {"all": {}} or {"specific": {"versions": [...]}}',
  })
  .meta({
    id: 'VersionPolicy',
    description: 'Which versions of the model are served (Triton names); the default is {"latest": {"num_versions": 1}}',
  });

export type VersionPolicy = z.output<typeof versionPolicySchema>;

/** The policy of a model whose config.json names none: the highest version only, as in Triton. */
export const DEFAULT_VERSION_POLICY: VersionPolicy = Object.freeze({ latest: Object.freeze({ num_versions: 1 }) });

/**
 * The versions a policy serves out of the versions in the repository, ascending and without duplicates.
 * `undefined` is the default policy. A `specific` version that is not in the repository is left out
 * (missingVersions() names it).
 */
export function selectVersions(policy: VersionPolicy | undefined, available: readonly number[]): number[] {
  const versions = [...new Set(available)].filter((v) => Number.isSafeInteger(v) && v >= 1).sort((a, b) => a - b);
  const p = policy ?? DEFAULT_VERSION_POLICY;
  if (p.all) return versions;
  if (p.specific) {
    const wanted = new Set(p.specific.versions);
    return versions.filter((v) => wanted.has(v));
  }
  const n = p.latest?.num_versions ?? 1;
  return versions.slice(Math.max(0, versions.length - n));
}

/** Versions a `specific` policy lists that the repository does not hold, ascending (empty for other policies). */
export function missingVersions(policy: VersionPolicy | undefined, available: readonly number[]): number[] {
  if (!policy?.specific) return [];
  const present = new Set(available);
  return [...policy.specific.versions].filter((v) => !present.has(v)).sort((a, b) => a - b);
}

/** One line for logs and the repository index, e.g. "latest 2", "all", "specific 1, 3". */
export function describeVersionPolicy(policy: VersionPolicy | undefined): string {
  const p = policy ?? DEFAULT_VERSION_POLICY;
  if (p.all) return 'all';
  if (p.specific) return `specific ${[...p.specific.versions].sort((a, b) => a - b).join(', ')}`;
  return `latest ${p.latest?.num_versions ?? 1}`;
}
