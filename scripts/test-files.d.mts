/** The repository's root directory. */
export const ROOT: string;
/** Every *.test.ts under `dir` (default: test/), at any depth, relative to the repository, sorted. */
export function testFiles(dir?: string): string[];
