/** The autoscaling policies the capacity model compares, and the settings shipped in k8s/components. */
import { DEFAULT_BEHAVIOR, type Behavior, type HpaSpec } from './autoscaler.ts';

/** Requests in flight per pod the queue-aware policy aims for (the ScaledObject's threshold). */
export const INFLIGHT_TARGET = 6;
/** The CPU trigger kept beside it: percent of the pod's CPU requests (250m app + 100m proxy). */
export const CPU_BACKSTOP_UTILIZATION = 200;

/** The behaviour in k8s/components/autoscaling-keda and autoscaling-adapter. */
// Scale-up as the HPA's default; scale-down at most 2 pods a minute instead of all at once.
export const SHIPPED_BEHAVIOR: Behavior = {
  scaleUp: DEFAULT_BEHAVIOR.scaleUp,
  scaleDown: { ...DEFAULT_BEHAVIOR.scaleDown, policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] },
};

export interface Policy {
  name: string;
  title: string;
  hpa: HpaSpec;
  /** Target CPU utilisation, percent of requests, or undefined for no CPU metric. */
  cpuUtilization?: number;
  /** Target requests in flight per pod (Prometheus, AverageValue), or undefined. */
  inflight?: number;
  /** KEDA's useCachedMetrics: the query is run every pollingInterval instead of at each HPA sync. */
  cachedPollingInterval?: number;
}

const hpa = (behavior: Behavior): HpaSpec => ({ minReplicas: 3, maxReplicas: 20, behavior, tolerance: 0.1, syncPeriod: 15 });

export const POLICIES: Policy[] = [
  { name: 'cpu-70', title: 'HPA on CPU at 70% of requests (the base)', hpa: hpa(DEFAULT_BEHAVIOR), cpuUtilization: 70 },
  { name: 'cpu-200', title: `HPA on CPU at ${CPU_BACKSTOP_UTILIZATION}% of requests alone, same behaviour as KEDA's`, hpa: hpa(SHIPPED_BEHAVIOR), cpuUtilization: CPU_BACKSTOP_UTILIZATION },
  {
    name: 'keda-inflight',
    title: `KEDA: ${INFLIGHT_TARGET} in flight per pod + CPU ${CPU_BACKSTOP_UTILIZATION}% (autoscaling-keda)`,
    hpa: hpa(SHIPPED_BEHAVIOR),
    inflight: INFLIGHT_TARGET,
    cpuUtilization: CPU_BACKSTOP_UTILIZATION,
  },
];
