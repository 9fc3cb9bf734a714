import { OpenApiGeneratorV31, OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Route } from './routes.ts';

/** The OpenAPI 3.1 description of the route table, generated from the same zod schemas that validate requests. */
export function buildOpenApi(routes: readonly Route[], serviceVersion: string): object {
  const registry = new OpenAPIRegistry();
  for (const route of routes) registry.registerPath({ method: route.method === 'GET' ? 'get' : 'post', path: route.path, ...route.doc });
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'meshserve', version: serviceVersion, description: 'Serve ONNX models over HTTP: row format and the KServe V2 / Open Inference Protocol.' },
  });
}
