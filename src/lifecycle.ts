/**
 * The service's phase, read by readiness, the transports and the shutdown sequence:
 * starting (models loading) -> ready -> draining (after SIGTERM: not ready, still serving) -> stopped.
 */
export type Phase = 'starting' | 'ready' | 'draining' | 'stopped';

const NEXT: Record<Phase, Phase[]> = {
  starting: ['ready', 'draining'],
  ready: ['draining'],
  draining: ['stopped'],
  stopped: [],
};

export class Lifecycle {
  #phase: Phase = 'starting';

  get phase(): Phase {
    return this.#phase;
  }

  /** True once a shutdown has begun: readiness fails and keep-alive clients are asked to reconnect elsewhere. */
  get draining(): boolean {
    return this.#phase === 'draining' || this.#phase === 'stopped';
  }

  /** Moves to `phase`; a move the lifecycle does not allow (e.g. back to ready while draining) is ignored. */
  moveTo(phase: Phase): void {
    if (!NEXT[this.#phase].includes(phase)) return;
    this.#phase = phase;
  }

  /** Why the service should not receive traffic, as far as the lifecycle knows (while starting, the repository says what is loading). */
  notReadyReasons(): string[] {
    return this.draining ? ['shutting down'] : [];
  }
}
