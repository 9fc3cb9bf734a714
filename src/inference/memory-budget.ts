// Memory-bounded admission: every inference request is charged, before its body is read, an estimate of
// the memory it will cause; past the budget it is refused at once (503 memory_exhausted, Retry-After).
import { unavailable, type AppError } from '../errors.ts';

/** How a request's body will be decoded: the estimate of its cost depends on it. */
export type BodyFormat = 'rows' | 'v2-json' | 'v2-binary';

/**
 * Peak memory one request causes, as a multiple of its body's bytes, measured with the bench's limits run
 * (docs/security.md): the raw body, its text, the parsed JSON, the input tensors, the output tensors and
 * the response text are alive at once at their peak. JSON numbers cost far more parsed than as text.
 */
export const COST_PER_BODY_BYTE: Record<BodyFormat, number> = { rows: 12, 'v2-json': 15, 'v2-binary': 4 };
/** Sockets, buffers, objects and the response of even the smallest request. */
export const COST_PER_REQUEST = 64 * 1024;

/** The estimated peak memory of one request with a body of `bodyBytes`. */
export function requestCost(format: BodyFormat, bodyBytes: number): number {
  return COST_PER_REQUEST + Math.ceil(COST_PER_BODY_BYTE[format] * bodyBytes);
}

export interface Charge {
  readonly bytes: number;
  /** Gives the bytes back; safe to call more than once. */
  release(): void;
}

export class MemoryBudget {
  #capacity: number;
  #used = 0;
  readonly #onChange: (used: number) => void;
  readonly #onCapacity: (capacity: number) => void;

  /** `onChange` hears of every change of the bytes in flight, `onCapacity` of the capacity (at once, and as versions come and go). */
  constructor(capacity: number, onChange: (used: number) => void = () => {}, onCapacity: (capacity: number) => void = () => {}) {
    this.#capacity = capacity;
    this.#onChange = onChange;
    this.#onCapacity = onCapacity;
    onCapacity(capacity);
  }

  #setCapacity(capacity: number): void {
    this.#capacity = capacity;
    this.#onCapacity(capacity);
  }

  /** Bytes that requests in flight may use together. */
  get capacity(): number {
    return this.#capacity;
  }

  get used(): number {
    return this.#used;
  }

  /**
   * Takes `bytes` out of the requests' budget for a model version loaded while the server runs, until the
   * returned function gives them back (when it is unloaded). Undefined when what would be left could not
   * hold `keepFree` (one request at BODY_LIMIT): the load waits instead.
   */
  reserve(bytes: number, keepFree: number): (() => void) | undefined {
    if (this.#capacity - bytes < keepFree) return undefined;
    this.#setCapacity(this.#capacity - bytes);
    return this.held(bytes);
  }

  /**
   * Memory a model version held when the budget was sized (it is in the resident memory the capacity was
   * measured from): the returned function gives `bytes` to requests once that version is unloaded.
   */
  held(bytes: number): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#setCapacity(this.#capacity + bytes);
    };
  }

  /** Charges `bytes`, or throws 503 memory_exhausted when they do not fit beside what is in flight. */
  charge(bytes: number): Charge {
    if (this.#used + bytes > this.#capacity) throw exhausted(bytes, this.#capacity - this.#used);
    this.#used += bytes;
    this.#onChange(this.#used);
    let held = true;
    return {
      bytes,
      release: () => {
        if (!held) return;
        held = false;
        this.#used -= bytes;
        this.#onChange(this.#used);
      },
    };
  }
}

function exhausted(bytes: number, free: number): AppError {
  const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`;
  return unavailable(
    'memory_exhausted',
    `the server is at its memory budget: this request needs about ${mb(bytes)} and ${mb(Math.max(0, free))} are free (MEMORY_LIMIT); retry shortly or send smaller requests`,
  );
}
