// Routes for this concern: filled in by its owner (see src/http/server.ts).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../engine/context.ts';
import type { Services } from '../server.ts';

export default async function routes(_app: FastifyInstance, _ctx: AppContext, _services: Services): Promise<void> {}
