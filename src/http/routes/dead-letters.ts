// /v1/dead-letters: messages wagate gave up on (with the reason and the fix), listed, read one with
// its message, replayed through the gate as a new message, discarded. Thin adapters over
// src/engine/dead-letters.ts. Another sender's dead letter answers 404, as if it did not exist.
import { z } from 'zod';
import { discardDeadLetter, getDeadLetter, listDeadLetters, replayDeadLetter } from '../../engine/dead-letters.ts';
import { actorOf, onlyVisible, requireVisible } from '../actor.ts';
import { parseInput } from '../validation.ts';
import { deadLetterView, messageView } from '../views.ts';
import type { RouteModule } from '../types.ts';

const IdParam = z.object({ id: z.string().min(1).max(100) });
const ListDeadLettersQuery = z.object({
  state: z.string().optional(),
  sender: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  offset: z.coerce.number().int().min(0).optional(),
});

const deadLetterRoutes: RouteModule = async (app, ctx) => {
  app.get('/v1/dead-letters', async (req) => {
    const q = parseInput(ListDeadLettersQuery, req.query, 'query string');
    const list = onlyVisible(ctx, req, await listDeadLetters(ctx, q), (d) => d.sender_id);
    return { dead_letters: list.map(deadLetterView), limit: q.limit ?? 50, offset: q.offset ?? 0 };
  });

  app.get('/v1/dead-letters/:id', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    const r = await getDeadLetter(ctx, id);
    requireVisible(ctx, req, r.dead_letter.sender_id, 'dead letter', id);
    return { ...deadLetterView(r.dead_letter), message: r.message ? messageView(r.message) : null };
  });

  app.post('/v1/dead-letters/:id/replay', async (req, reply) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    requireVisible(ctx, req, (await getDeadLetter(ctx, id)).dead_letter.sender_id, 'dead letter', id);
    const { dead_letter, result } = await replayDeadLetter(ctx, id, actorOf(req));
    const body: Record<string, unknown> = { dead_letter: deadLetterView(dead_letter), decision: result.decision };
    if (result.id) Object.assign(body, { id: result.id, status: result.status });
    return reply.status(result.http_status).send(body);
  });

  app.delete('/v1/dead-letters/:id', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    requireVisible(ctx, req, (await getDeadLetter(ctx, id)).dead_letter.sender_id, 'dead letter', id);
    return { dead_letter: deadLetterView(await discardDeadLetter(ctx, id, actorOf(req))) };
  });
};

export default deadLetterRoutes;
