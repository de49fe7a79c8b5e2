export * from './secret-box.ts';
export * from './dev-key.ts';
export * from './totp.ts';
export * from './recovery-codes.ts';
export * from './password.ts';
export * from './factor.ts';
export * from './totp-factor.ts';
export * from './recovery-codes-factor.ts';
