export * from './builder.ts';
export * from './generators.ts';
export * from './random.ts';
