import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// Inference latencies from 0.5 ms to 10 s.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function batchBuckets(maxBatchSize: number): number[] {
  const buckets: number[] = [];
  for (let b = 1; b < maxBatchSize; b *= 2) buckets.push(b);
  buckets.push(maxBatchSize);
  return buckets;
}

export type Outcome = 'success' | 'invalid' | 'rejected' | 'timeout' | 'cancelled' | 'error';

export function createMetrics(options: { maxBatchSize?: number; defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // Gauges named *_total break Prometheus naming rules (promtool check metrics); the per-type gauges stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  const registers = [registry];
  const modelLabels = ['model', 'version'] as const;
  const featureLabels = ['model', 'version', 'feature'] as const;
  // The business counters are fed per request into plain typed arrays (prom-client hashes the label set on
  // every inc(), which would cost more than the statistics themselves); their owners add the pending amounts
  // to the counters when a scrape collects them.
  const collectors = new Set<() => void>();
  const collectBusiness = () => {
    for (const collect of collectors) collect();
  };
  const metrics = {
    registry,
    httpRequests: new Counter({
      name: 'meshserve_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status code.',
      labelNames: ['method', 'route', 'code'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'meshserve_http_request_duration_seconds',
      help: 'Time from request received to response finished.',
      labelNames: ['method', 'route', 'code'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    grpcRequests: new Counter({
      name: 'meshserve_grpc_requests_total',
      help: 'gRPC calls answered, by method (e.g. ModelInfer) and status code name (OK, INVALID_ARGUMENT, UNAVAILABLE, ...).',
      labelNames: ['method', 'code'] as const,
      registers,
    }),
    grpcDuration: new Histogram({
      name: 'meshserve_grpc_request_duration_seconds',
      help: 'Time from a gRPC call received (its message decoded) to its status sent.',
      labelNames: ['method', 'code'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    inferenceRequests: new Counter({
      name: 'meshserve_inference_requests_total',
      help: 'Inference requests by outcome: success, invalid, rejected (queue full or shutting down), timeout, cancelled (client left), error.',
      labelNames: ['model', 'version', 'outcome'] as const,
      registers,
    }),
    inferenceDuration: new Histogram({
      name: 'meshserve_inference_duration_seconds',
      help: 'Queue plus compute time of one inference request.',
      labelNames: modelLabels,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    queueDuration: new Histogram({
      name: 'meshserve_inference_queue_duration_seconds',
      help: 'Time a request waited in the batching queue before its batch ran.',
      labelNames: modelLabels,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    computeDuration: new Histogram({
      name: 'meshserve_inference_compute_duration_seconds',
      help: 'Time to run one batch through the model.',
      labelNames: modelLabels,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchSize: new Histogram({
      name: 'meshserve_inference_batch_size',
      help: 'Rows per batch run.',
      labelNames: modelLabels,
      buckets: batchBuckets(options.maxBatchSize ?? 32),
      registers,
    }),
    queueDepth: new Gauge({
      name: 'meshserve_inference_queue_depth',
      help: 'Requests waiting in the batching queue.',
      labelNames: modelLabels,
      registers,
    }),
    queueCapacity: new Gauge({
      name: 'meshserve_inference_queue_capacity',
      help: 'Largest number of requests the queue holds before rejecting (MAX_QUEUE_SIZE).',
      labelNames: modelLabels,
      registers,
    }),
    modelReady: new Gauge({
      name: 'meshserve_model_ready',
      help: '1 when the model version is loaded and warmed up, else 0.',
      labelNames: modelLabels,
      registers,
    }),
    memoryBudget: new Gauge({
      name: 'meshserve_memory_budget_bytes',
      help: 'Memory that inference requests in flight may use together (from MEMORY_LIMIT); absent without a limit.',
      registers,
    }),
    memoryInFlight: new Gauge({
      name: 'meshserve_memory_in_flight_bytes',
      help: 'Estimated memory of the inference requests in flight, charged before their bodies are read.',
      registers,
    }),
    workerRestarts: new Counter({
      name: 'meshserve_worker_restarts_total',
      help: "Inference worker restarts, by cause: exit (the worker died), batch_timeout (a batch overran BATCH_TIMEOUT_MS), requested.",
      labelNames: ['model', 'version', 'reason'] as const,
      registers,
    }),
    warmupFailures: new Counter({
      name: 'meshserve_model_warmup_failures_total',
      help: 'Automatic warm-ups (zero inputs) the model rejected; the model serves anyway (config.json warmup).',
      labelNames: modelLabels,
      registers,
    }),
    modelLoads: new Counter({
      name: 'meshserve_model_loads_total',
      help: 'Model versions loaded and warmed up while the server runs (MODEL_CONTROL_MODE poll or explicit).',
      labelNames: modelLabels,
      registers,
    }),
    modelLoadFailures: new Counter({
      name: 'meshserve_model_load_failures_total',
      help: 'Model versions that failed to load or warm up while the server runs; what served before keeps serving.',
      labelNames: modelLabels,
      registers,
    }),
    modelUnloads: new Counter({
      name: 'meshserve_model_unloads_total',
      help: 'Model versions unloaded while the server runs (version policy, files removed, or the repository API).',
      labelNames: modelLabels,
      registers,
    }),
    modelLoadDuration: new Gauge({
      name: 'meshserve_model_load_duration_seconds',
      help: 'Time taken to load and warm up the model version.',
      labelNames: modelLabels,
      registers,
    }),
    // Business metrics (src/models/statistics.ts): what a model predicts and what it is fed.
    predictions: new Counter({
      name: 'meshserve_predictions_total',
      help: 'Rows predicted, by label (argmax of the labelled output), for models whose config.json has labels.',
      labelNames: ['model', 'version', 'label'] as const,
      registers,
      collect: collectBusiness,
    }),
    predictionReference: new Gauge({
      name: 'meshserve_prediction_reference_ratio',
      help: 'Share of each label in the training data (class prior), from reference.priors in config.json.',
      labelNames: ['model', 'version', 'label'] as const,
      registers,
    }),
    featureObservations: new Counter({
      name: 'meshserve_feature_observations_total',
      help: 'Finite values seen of a tracked input feature (reference.features in config.json).',
      labelNames: featureLabels,
      registers,
      collect: collectBusiness,
    }),
    featureSum: new Counter({
      name: 'meshserve_feature_sum_total',
      help: 'Sum of the values of a tracked input feature, split by sign (positive: sum of values >= 0; negative: sum of magnitudes of values < 0), so both stay counters.',
      labelNames: [...featureLabels, 'sign'] as const,
      registers,
      collect: collectBusiness,
    }),
    featureSquares: new Counter({
      name: 'meshserve_feature_squares_sum_total',
      help: 'Sum of the squared values of a tracked input feature (with the sum and the count: the serving variance).',
      labelNames: featureLabels,
      registers,
      collect: collectBusiness,
    }),
    featureReferenceMean: new Gauge({
      name: 'meshserve_feature_reference_mean',
      help: 'Mean of a tracked input feature in the training data, from reference.features in config.json.',
      labelNames: featureLabels,
      registers,
    }),
    featureReferenceStddev: new Gauge({
      name: 'meshserve_feature_reference_stddev',
      help: 'Standard deviation of a tracked input feature in the training data, from reference.features in config.json.',
      labelNames: featureLabels,
      registers,
    }),
  };
  // prom-client hashes a label set on every call; a request resolves its pair of children once per label set.
  const httpChildren = new Map<string, { count: { inc(): void }; duration: { observe(seconds: number): void } }>();
  const observeHttp = (method: string, route: string, code: string, seconds: number) => {
    const key = `${method} ${route} ${code}`;
    let children = httpChildren.get(key);
    if (!children) {
      const labels = { method, route, code };
      children = { count: metrics.httpRequests.labels(labels), duration: metrics.httpDuration.labels(labels) };
      httpChildren.set(key, children);
    }
    children.count.inc();
    children.duration.observe(seconds);
  };
  const grpcChildren = new Map<string, { count: { inc(): void }; duration: { observe(seconds: number): void } }>();
  const observeGrpc = (method: string, code: string, seconds: number) => {
    const key = `${method} ${code}`;
    let children = grpcChildren.get(key);
    if (!children) {
      const labels = { method, code };
      children = { count: metrics.grpcRequests.labels(labels), duration: metrics.grpcDuration.labels(labels) };
      grpcChildren.set(key, children);
    }
    children.count.inc();
    children.duration.observe(seconds);
  };
  /** Registers a function that moves pending business figures into their counters at each scrape; returns its removal. */
  const onCollect = (collect: () => void) => {
    collectors.add(collect);
    return () => collectors.delete(collect);
  };
  return { ...metrics, observeHttp, observeGrpc, onCollect };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** A bare HTTP server answering GET /metrics from the given registry. */
export function createMetricsServer(registry: Registry): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end('{"error":"only GET /metrics","code":"method_not_allowed"}');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"metrics are at GET /metrics","code":"not_found"}');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"metrics collection failed","code":"internal"}'),
    );
  });
}
