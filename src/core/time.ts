/** Milliseconds in one second and one day; every time in core is epoch milliseconds passed in by the caller. */
export const SECOND_MS = 1000;
export const DAY_MS = 86_400_000;
