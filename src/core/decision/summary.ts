import type { Decision } from './types.ts';

/**
 * The one-line log message for a decision, worded as ZewstID's are ("MFA required: first-party portal",
 * "MFA skipped: low risk", "Login blocked by risk assessment", …). Level is `warn` for a block.
 */
export function summarizeDecision(decision: Decision): { readonly level: 'info' | 'warn'; readonly message: string } {
  const last = decision.reasons[decision.reasons.length - 1];
  switch (decision.outcome) {
    case 'block':
      return { level: 'warn', message: 'Login blocked by risk assessment' };
    case 'challenge':
      if (last?.code === 'first_party') return { level: 'info', message: last.detail };
      if (last?.code === 'adaptive_challenge' || last?.code === 'risk_unavailable') return { level: 'info', message: 'MFA required by risk assessment' };
      if (last?.code === 'step_up_required') return { level: 'info', message: 'Step-up MFA session created' };
      return { level: 'info', message: 'MFA required by policy' };
    case 'enroll':
      return { level: 'info', message: `MFA enrollment required${decision.errorCode === null ? '' : ` (${decision.errorCode})`}` };
    case 'allow':
      if (last?.code === 'adaptive_low_risk') return { level: 'info', message: 'MFA skipped: low risk' };
      if (last?.code === 'mfa_satisfied') return { level: 'info', message: 'MFA verification successful' };
      if (last?.code === 'exempt') return { level: 'info', message: 'MFA skipped: exempt' };
      if (last?.code === 'step_up_recent') return { level: 'info', message: 'MFA was recently completed' };
      return { level: 'info', message: decision.grace?.active === true ? 'MFA skipped: inside grace period' : 'MFA not required' };
  }
}
