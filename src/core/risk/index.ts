export * from './geo.ts';
export * from './score.ts';
