/** The part of autocannon 9 the benchmarks use (the package ships no types). */
declare module 'autocannon' {
  export interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** Returns the request to send (a falsy value restarts the sequence). */
    setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest | null;
    /** Sees each answer (body as text); what it stores in `context` the next request's `setupRequest` reads. */
    onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
  }

  export interface AutocannonOptions {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    pipelining?: number;
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    requests?: AutocannonRequest[];
  }

  export interface AutocannonResult {
    duration: number;
    start: Date;
    finish: Date;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    statusCodeStats: Record<string, { count: number }>;
    latency: { average: number; p50: number; p99: number; max: number };
    requests: { average: number; total: number; sent: number };
  }

  /** A run's result as a worker thread gets it (not aggregated: pass it to `aggregateResult`). */
  export interface AutocannonRawResult {
    readonly duration: number;
  }

  interface Autocannon {
    /** On the main thread the result is aggregated; in a worker thread it is raw. */
    (options: AutocannonOptions): Promise<AutocannonResult | AutocannonRawResult>;
    aggregateResult(results: readonly (AutocannonResult | AutocannonRawResult)[], options?: Partial<AutocannonOptions>): AutocannonResult;
  }

  const autocannon: Autocannon;
  export default autocannon;
}
