/**
 * The Kubernetes HPA's replica calculation (autoscaling/v2), as its documentation describes it,
 * with simulated time: per metric desired = ceil(current x value / target) unless the ratio is
 * within the tolerance; the largest over metrics; then the stabilisation windows, the scaling
 * policies and min/max. KEDA feeds the same controller (it creates the HPA), so KEDA's triggers
 * are metrics here too.
 */

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: ScalingPolicy[];
}

export interface Behavior {
  scaleUp: ScalingRules;
  scaleDown: ScalingRules;
}

/** The HPA's defaults when `behavior` is not set. */
export const DEFAULT_BEHAVIOR: Behavior = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Percent', value: 100, periodSeconds: 15 },
      { type: 'Pods', value: 4, periodSeconds: 15 },
    ],
  },
  scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
};

export interface HpaSpec {
  minReplicas: number;
  maxReplicas: number;
  behavior: Behavior;
  /** --horizontal-pod-autoscaler-tolerance. */
  tolerance: number;
  /** --horizontal-pod-autoscaler-sync-period, seconds. */
  syncPeriod: number;
}

/**
 * One metric as the HPA sees it at a sync. `value` is per pod (Utilization, AverageValue) over
 * the `ready` pods that reported it; `unready` pods (started, not yet ready or without a sample)
 * count as using nothing when the metric says scale up, as the HPA does for resource metrics.
 */
export interface MetricSample {
  name: string;
  /** Average per reporting pod (for CPU: utilisation in percent of the request). */
  value: number;
  target: number;
  /** Pods that reported a value. */
  ready: number;
  /** Pods that exist but reported none. */
  unready: number;
}

/** desired for one metric, or undefined when the ratio is within the tolerance (no change). */
export function desiredFor(current: number, m: MetricSample, tolerance: number): number {
  if (m.ready === 0) return current;
  let ratio = m.value / m.target;
  let base = m.ready;
  if (ratio > 1 && m.unready > 0) {
    // Scaling up: pods without a sample count as idle, which damps a scale-up while pods start.
    ratio = (m.value * m.ready) / (m.target * (m.ready + m.unready));
    base = m.ready + m.unready;
    if (ratio <= 1) return current;
  }
  if (Math.abs(ratio - 1) <= tolerance) return current;
  return Math.ceil(ratio * base);
}

export class Hpa {
  /** (time, recommendation) of past syncs, for the stabilisation windows. */
  readonly #recommendations: Array<[number, number]> = [];
  /** (time, change) of past scale events, for the rate policies. */
  readonly #changes: Array<[number, number]> = [];

  constructor(readonly spec: HpaSpec) {}

  /** Replicas the HPA sets at `now`, given the Deployment's current replicas and its metrics. */
  sync(now: number, current: number, metrics: MetricSample[]): number {
    const { minReplicas, maxReplicas, behavior, tolerance } = this.spec;
    let desired = 0;
    for (const m of metrics) desired = Math.max(desired, desiredFor(current, m, tolerance));
    if (metrics.length === 0) desired = current;
    desired = Math.min(maxReplicas, Math.max(minReplicas, desired));

    this.#recommendations.push([now, desired]);
    const longest = Math.max(behavior.scaleUp.stabilizationWindowSeconds, behavior.scaleDown.stabilizationWindowSeconds);
    while (this.#recommendations.length > 0 && this.#recommendations[0]![0] < now - longest) this.#recommendations.shift();

    // Stabilisation: scale up to no more than the lowest recommendation of the up-window, down
    // to no less than the highest of the down-window.
    let upTo = desired;
    let downTo = desired;
    for (const [t, r] of this.#recommendations) {
      if (t >= now - behavior.scaleUp.stabilizationWindowSeconds) upTo = Math.min(upTo, r);
      if (t >= now - behavior.scaleDown.stabilizationWindowSeconds) downTo = Math.max(downTo, r);
    }
    let next = current;
    if (upTo > current) next = upTo;
    else if (downTo < current) next = downTo;

    if (next > current) next = Math.min(next, this.#limit(now, current, behavior.scaleUp, +1));
    else if (next < current) next = Math.max(next, this.#limit(now, current, behavior.scaleDown, -1));
    next = Math.min(maxReplicas, Math.max(minReplicas, next));
    if (next !== current) this.#changes.push([now, next - current]);
    while (this.#changes.length > 0 && this.#changes[0]![0] < now - 1800) this.#changes.shift();
    return next;
  }

  /** The furthest the policies let replicas move from `current` in direction `sign`. */
  #limit(now: number, current: number, rules: ScalingRules, sign: 1 | -1): number {
    if (rules.selectPolicy === 'Disabled') return current;
    const limits = rules.policies.map((p) => {
      // Replicas at the start of the policy's period: undo the changes in this direction since then.
      let moved = 0;
      for (const [t, change] of this.#changes) if (t > now - p.periodSeconds && Math.sign(change) === sign) moved += change;
      const start = current - moved;
      if (sign > 0) return p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
      return p.type === 'Pods' ? start - p.value : Math.ceil(start * (1 - p.value / 100));
    });
    const pickMax = rules.selectPolicy === 'Max';
    // "Max" allows the largest change: the highest limit up, the lowest limit down.
    if (sign > 0) return pickMax ? Math.max(...limits) : Math.min(...limits);
    return pickMax ? Math.min(...limits) : Math.max(...limits);
  }
}
