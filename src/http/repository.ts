// Triton's model repository extension over HTTP: POST /v2/repository/index, .../models/{name}/load and
// .../unload. Thin handlers: the bodies are decoded by codecs/repository-api.ts, the work is ModelControl's.
import type { IncomingMessage } from 'node:http';
import { parseJsonBody } from '../codecs/json-body.ts';
import { decodeIndexRequest, decodeLoadRequest, decodeUnloadRequest } from '../codecs/repository-api.ts';
import type { ModelControl } from '../models/control.ts';
import { readBody } from './body.ts';
import { sendJson } from './reply.ts';
import type { HandlerContext } from './router.ts';

/** Admin bodies are small: a few parameters at most. */
const ADMIN_BODY_LIMIT = 64 * 1024;

/** The body as JSON; Triton's clients send none for a plain load or unload, which is {}. */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  return parseJsonBody(await readBody(req, ADMIN_BODY_LIMIT));
}

export function repositoryHandlers(control: ModelControl) {
  return {
    index: async ({ req, res }: HandlerContext) => {
      const request = decodeIndexRequest(await jsonBody(req));
      sendJson(res, 200, await control.index(request.ready ?? false));
    },
    load: async ({ req, res, params }: HandlerContext) => {
      decodeLoadRequest(await jsonBody(req));
      sendJson(res, 200, await control.load(params.name!));
    },
    unload: async ({ req, res, params }: HandlerContext) => {
      decodeUnloadRequest(await jsonBody(req));
      sendJson(res, 200, await control.unload(params.name!));
    },
  };
}
