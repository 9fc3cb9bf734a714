// Render the Kustomize tree offline, validate every object, and answer Linkerd policy
// questions ("may this client send this request to this port?") the way Linkerd would.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments, stringify } from 'yaml';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The CRD schemas: ../shared/k8s-schemas next to the checkout, or K8S_SCHEMAS_DIR (a checkout elsewhere, e.g. a git worktree). */
export const schemaDir = process.env.K8S_SCHEMAS_DIR ? resolve(process.env.K8S_SCHEMAS_DIR) : resolve(repoRoot, '../shared/k8s-schemas');

// Loose on purpose: these are whatever kustomize rendered.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; data?: Record<string, string>; [key: string]: any };

export function render(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { timeout: 120_000, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(out)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`bad YAML from kustomize: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** Copy k8s/ to a temp dir, let `edit` change the production kustomization, render it. */
export function renderEditedProduction(edit: (kustomization: Record<string, unknown>) => void): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'meshserve-k8s-'));
  try {
    cpSync(join(repoRoot, 'k8s'), join(dir, 'k8s'), { recursive: true });
    const file = join(dir, 'k8s/overlays/production/kustomization.yaml');
    const kustomization = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(kustomization);
    writeFileSync(file, stringify(kustomization));
    return render(join(dir, 'k8s/overlays/production'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Production with the canary component added the way docs/deploy.md tells operators to. */
export function renderProductionWithCanary(canaryImage = 'ghcr.io/meshserve/meshserve:0.2.0'): K8sObject[] {
  return renderEditedProduction((k) => {
    k.components = [...((k.components as string[] | undefined) ?? []), '../../components/canary'];
    const [name, tag] = canaryImage.split(/:(?=[^:/]+$)/) as [string, string];
    k.images = [...((k.images as unknown[] | undefined) ?? []), { name: 'meshserve-canary', newName: name, newTag: tag }];
  });
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in the rendered output`);
  return found;
}

export function ofKind(objects: K8sObject[], kind: string, apiGroup?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (apiGroup === undefined || groupOf(o) === apiGroup));
}

export function groupOf(o: K8sObject): string {
  return o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
}

// ---------------------------------------------------------------------------------------
// Validation: every object must have a validator, or validation fails.

const linkerdGroups = new Set(['policy.linkerd.io', 'linkerd.io']);
export const linkerdSchemasPresent = existsSync(schemaDir);

/**
 * A check that needs the CRD schemas under ../shared/k8s-schemas: where they are missing it is skipped, loudly
 * (the skip and a warning on stderr name what is NOT validated), or fails when K8S_SCHEMAS_REQUIRED=1, as
 * .ci/run sets it (the schemas are always there for it, so their absence is a fault, not a reason to skip).
 */
export function skipWithoutSchemas(t: { skip(message: string): void }, file: string, what: string): boolean {
  if (existsSync(file)) return false;
  const message = `${what} schemas not found at ${file}; NOT validated`;
  if (process.env.K8S_SCHEMAS_REQUIRED === '1') throw new Error(`${message} (K8S_SCHEMAS_REQUIRED=1)`);
  console.warn(`WARNING: ${message}`);
  t.skip(message);
  return true;
}

const ajv = new Ajv({ strict: false, allErrors: true });
const ajvCache = new Map<string, ReturnType<Ajv['compile']>>();

function modelModule(o: K8sObject): string | undefined {
  const group = groupOf(o);
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${o.apiVersion}`;
  if (group === 'gateway.networking.k8s.io') return `@kubernetes-models/gateway-api/${o.apiVersion}`;
  if (group === '' || !group.includes('.') || group.endsWith('.k8s.io')) return `kubernetes-models/${o.apiVersion}`;
  return undefined;
}

/** The CRD schema of a gateway API kind that @kubernetes-models/gateway-api does not model, when the schemas are there. */
function gatewaySchemaFile(o: K8sObject): string | undefined {
  if (groupOf(o) !== 'gateway.networking.k8s.io') return undefined;
  const file = join(schemaDir, groupOf(o), `${o.kind.toLowerCase()}_${o.apiVersion.split('/')[1]}.json`);
  return existsSync(file) ? file : undefined;
}

/** Whether @kubernetes-models models this kind (else it is checked against its CRD schema only). */
function modelled(o: K8sObject): boolean {
  return !(groupOf(o) === 'gateway.networking.k8s.io' && o.kind === 'GRPCRoute' && o.apiVersion.endsWith('/v1'));
}

function validateWithSchema(o: K8sObject, file: string, label: string): Validation {
  let validate = ajvCache.get(file);
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')));
    ajvCache.set(file, validate);
  }
  const ok = validate(o);
  return { validator: 'json-schema', errors: ok ? [] : (validate.errors ?? []).map((e) => `${label}: ${e.instancePath} ${e.message}`) };
}

export type Validation = { validator: 'kubernetes-models' | 'json-schema' | 'skipped'; errors: string[] };

/** Validates one object; throws when no validator knows its kind. */
export async function validateObject(o: K8sObject): Promise<Validation> {
  const label = `${o.apiVersion} ${o.kind}/${o.metadata?.name}`;
  const group = groupOf(o);
  if (linkerdGroups.has(group)) {
    if (!linkerdSchemasPresent) return { validator: 'skipped', errors: [] };
    const version = o.apiVersion.split('/')[1]!;
    const file = join(schemaDir, group, `${o.kind.toLowerCase()}_${version}.json`);
    if (!existsSync(file)) throw new Error(`no JSON schema for ${label} (looked for ${file})`);
    return validateWithSchema(o, file, label);
  }
  const module = modelModule(o);
  if (!module) throw new Error(`no validator for ${label}`);
  let exports: Record<string, unknown>;
  try {
    exports = (await import(module)) as Record<string, unknown>;
  } catch {
    throw new Error(`no validator for ${label} (no module ${module})`);
  }
  const Model = exports[o.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== 'function') {
    // A gateway API kind the installed models lack (GRPCRoute v1): the strict CRD schema beside the repository.
    const file = gatewaySchemaFile(o);
    if (file) return validateWithSchema(o, file, label);
    throw new Error(`no validator for ${label} (${module} has no ${o.kind})`);
  }
  try {
    new Model(o).validate();
    return { validator: 'kubernetes-models', errors: [] };
  } catch (err) {
    return { validator: 'kubernetes-models', errors: [`${label}: ${(err as Error).message}`] };
  }
}

/**
 * kubernetes-models' validators accept unknown fields (a typo like `initialDelaySecond`
 * passes). Its TypeScript types do not: type-check every object as a fresh object literal
 * of its model's interface, so excess properties are errors. Returns tsc's messages.
 */
export function unknownFieldErrors(objects: K8sObject[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'meshserve-k8s-types-'));
  try {
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const lines: string[] = [];
    objects.forEach((o, i) => {
      const module = modelModule(o);
      if (!module || linkerdGroups.has(groupOf(o)) || !modelled(o)) return;
      const id = `${o.kind}_${o.metadata.name}_${i}`.replace(/[^A-Za-z0-9_]/g, '_');
      lines.push(`export const ${id}: import(${JSON.stringify(module)}).I${o.kind} = ${JSON.stringify(o, null, 1)};`);
    });
    writeFileSync(join(dir, 'objects.ts'), lines.join('\n'));
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'objects.ts'], { timeout: 120_000, cwd: dir, encoding: 'utf8' });
      return [];
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? err);
      return out.split('\n').filter((l) => l.includes('error TS'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Linkerd inbound policy, as documented for Server / HTTPRoute / AuthorizationPolicy.

export type Client = { ip: string; serviceAccount?: { name: string; namespace: string } };
export type Decision = 'allow' | 'deny' | 'audit' | 'no-server';

function selects(selector: { matchLabels?: Record<string, string> } | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const toInt = (a: string) => a.split('.').reduce((n, part) => n * 256 + Number(part), 0);
  const block = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / block) === Math.floor(toInt(net) / block);
}

type Match = { path?: { type?: string; value?: string }; method?: string };

function matchScore(m: Match, method: string, path: string): number {
  if (m.method && m.method !== method) return -1;
  const type = m.path?.type ?? 'PathPrefix';
  const value = m.path?.value ?? '/';
  let score: number;
  if (type === 'Exact') {
    if (path !== value) return -1;
    score = 1_000_000 + value.length;
  } else if (type === 'PathPrefix') {
    const prefix = value.replace(/\/$/, '');
    if (!(path === prefix || path.startsWith(`${prefix}/`) || prefix === '')) return -1;
    score = value.length * 10;
  } else return -1;
  return score + (m.method ? 1 : 0);
}

type GrpcMatch = { method?: { type?: string; service?: string; method?: string } };

/** A GRPCRoute match (Exact service and/or method) against /<service>/<method>. */
function grpcMatchScore(m: GrpcMatch, path: string): number {
  const [, service, method] = path.split('/');
  if ((m.method?.type ?? 'Exact') !== 'Exact') return -1;
  if (m.method?.service !== undefined && m.method.service !== service) return -1;
  if (m.method?.method !== undefined && m.method.method !== method) return -1;
  return 1 + (m.method?.service ? 1 : 0) + (m.method?.method ? 2 : 0);
}

/**
 * What a meshed pod with these labels does with this request on this container port.
 * Not modelled: Linkerd's automatic probe authorization, which applies only while no route
 * is attached to the Server (this tree always attaches routes).
 */
export function decide(objects: K8sObject[], pod: { namespace: string; labels: Record<string, string>; ports: Array<{ name?: string; containerPort: number }> }, port: number, method: string, path: string, client: Client): Decision {
  const inNs = objects.filter((o) => (o.metadata.namespace ?? '') === pod.namespace);
  const portMatches = (p: string | number) => (typeof p === 'number' ? p === port : pod.ports.some((cp) => cp.name === p && cp.containerPort === port));
  const server = inNs.find((o) => o.kind === 'Server' && groupOf(o) === 'policy.linkerd.io' && selects(o.spec.podSelector, pod.labels) && portMatches(o.spec.port));
  if (!server) return 'no-server';

  // On a gRPC Server, GRPCRoutes match the call's path, /<service>/<method>.
  const routes = inNs.filter((o) => (o.kind === 'HTTPRoute' || o.kind === 'GRPCRoute') && (o.spec.parentRefs ?? []).some((r: { kind?: string; name: string }) => r.kind === 'Server' && r.name === server.metadata.name));
  let route: K8sObject | undefined;
  if (routes.length > 0) {
    let best = -1;
    for (const r of routes) {
      for (const rule of r.spec.rules ?? []) {
        for (const m of (rule.matches ?? [r.kind === 'GRPCRoute' ? {} : { path: { type: 'PathPrefix', value: '/' } }]) as Match[]) {
          const s = r.kind === 'GRPCRoute' ? grpcMatchScore(m as GrpcMatch, path) : matchScore(m, method, path);
          if (s > best) [best, route] = [s, r];
        }
      }
    }
  }

  const exists = (kind: string, name: string) => inNs.some((o) => o.kind === kind && o.metadata.name === name);
  const satisfied = (ref: { kind: string; name: string; namespace?: string }): boolean => {
    const authn = inNs.find((o) => o.kind === ref.kind && o.metadata.name === ref.name);
    if (ref.kind === 'ServiceAccount') return client.serviceAccount?.name === ref.name && client.serviceAccount.namespace === (ref.namespace ?? pod.namespace);
    if (!authn) return false;
    if (ref.kind === 'NetworkAuthentication') {
      return authn.spec.networks.some((n: { cidr: string; except?: string[] }) => inCidr(client.ip, n.cidr) && !(n.except ?? []).some((e) => inCidr(client.ip, e)));
    }
    if (ref.kind === 'MeshTLSAuthentication') {
      const sa = client.serviceAccount;
      if (!sa) return false;
      const identity = `${sa.name}.${sa.namespace}.serviceaccount.identity.linkerd.cluster.local`;
      if ((authn.spec.identities ?? []).some((id: string) => id === '*' || id === identity)) return true;
      return (authn.spec.identityRefs ?? []).some((r: { kind: string; name?: string; namespace?: string }) => r.kind === 'ServiceAccount' && (r.name === undefined || r.name === sa.name) && (r.namespace ?? pod.namespace) === sa.namespace);
    }
    return false;
  };

  const policies = inNs.filter((o) => o.kind === 'AuthorizationPolicy').filter((p) => {
    const t = p.spec.targetRef;
    if (t.kind === 'Namespace') return t.name === pod.namespace;
    if (t.kind === 'Server') return t.name === server.metadata.name;
    return route !== undefined && t.kind === route.kind && t.name === route.metadata.name;
  });
  // Linkerd ignores a policy whose authentications do not all exist.
  const allowed = policies.some((p) => {
    const refs = p.spec.requiredAuthenticationRefs as Array<{ kind: string; name: string; namespace?: string }>;
    return refs.every((r) => r.kind === 'ServiceAccount' || exists(r.kind, r.name)) && refs.every(satisfied);
  });
  if (allowed && (routes.length === 0 || route)) return 'allow';
  return server.spec.accessPolicy === 'audit' ? 'audit' : 'deny';
}
