// GET /webhook: Meta's verification handshake. POST /webhook: Meta's events.
// The POST body is read as raw bytes (its own content-type parser, inside this plugin scope only, so
// other routes keep normal JSON parsing): the signature is checked on exactly the bytes Meta signed,
// BEFORE anything is parsed or stored. Then the batch is persisted and 200 returned at once; the
// processor applies it asynchronously, in order (src/webhooks/README.md). Every correctly signed body
// gets 200 once stored, even one that cannot be read (it is set aside); only a store that cannot keep
// it answers 503, so Meta retries.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteModule } from '../types.ts';
import { sendError } from '../errors.ts';
import { appError } from '../../shared/errors/app-error.ts';
import { safeEqual } from '../../webhooks/signature.ts';
import { BacklogFullError } from '../../webhooks/processor.ts';

const SIGNATURE_FIX: Record<string, string> = {
  no_secret_configured: 'Set meta.app_secret (WAGATE_APP_SECRET) to your Meta app secret; unsigned webhooks are never accepted.',
  missing: 'Meta signs every webhook with X-Hub-Signature-256; requests without it are not from Meta.',
  malformed: 'The header must be "sha256=" followed by 64 hex characters (HMAC-SHA256 of the raw body).',
  mismatch:
    'Sign the exact raw body with the app secret (HMAC-SHA256). If you rotated the secret, add the old one to meta.app_secrets_previous.',
};

const webhookRoutes: RouteModule = async (app, ctx, services) => {
  const maxBody = ctx.config.webhooks.max_body_bytes;
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // Any content type: Meta sends application/json, but the signature (not the header) decides.
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: maxBody },
      (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body),
    );

    scope.get('/webhook', async (req: FastifyRequest, reply: FastifyReply) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      const mode = q['hub.mode'];
      const token = q['hub.verify_token'];
      const challenge = q['hub.challenge'];
      const expected = ctx.config.meta.verify_token;
      if (!expected) {
        return sendError(
          reply,
          appError('VERIFY_TOKEN_NOT_CONFIGURED', 'No webhook verify token is configured, so the handshake cannot succeed.'),
        );
      }
      if (mode !== 'subscribe' || typeof token !== 'string' || !safeEqual(token, expected) || typeof challenge !== 'string') {
        return sendError(
          reply,
          appError(
            'VERIFY_TOKEN_MISMATCH',
            'Webhook verification failed: hub.mode must be "subscribe", hub.verify_token must match the configured token, and hub.challenge must be present.',
            {
              details: { mode: typeof mode === 'string' ? mode : null, challenge_present: typeof challenge === 'string' },
            },
          ),
        );
      }
      return reply.status(200).type('text/plain').send(challenge);
    });

    const backlogFull = (reply: FastifyReply, backlog: number) => {
      ctx.metrics.webhookEvents.inc({ kind: 'request', result: 'rejected_backlog' });
      return sendError(
        reply.header('retry-after', '30'),
        appError(
          'WEBHOOK_BACKLOG',
          `Webhooks are arriving faster than they can be applied (${backlog} batches waiting); this one was not stored.`,
        ),
      );
    };
    scope.post('/webhook', { bodyLimit: maxBody }, async (req: FastifyRequest, reply: FastifyReply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const check = services.webhooks.verify(raw, req.headers['x-hub-signature-256']);
      if (!check.ok) {
        ctx.metrics.webhookEvents.inc({ kind: 'request', result: `rejected_${check.reason}` });
        return sendError(
          reply,
          appError('INVALID_SIGNATURE', `Webhook rejected: X-Hub-Signature-256 ${check.reason.replace(/_/g, ' ')}. Nothing was stored.`, {
            fix: SIGNATURE_FIX[check.reason],
            details: { reason: check.reason },
          }),
        );
      }
      const full = services.webhooks.refusing();
      if (full !== null) return backlogFull(reply, full);
      // Signed, so it is from Meta: from here on the answer is 200 unless the store cannot keep it.
      // A body that cannot be read is kept and set aside (GET /v1/webhooks/failed) rather than refused:
      // Meta retries a non-200 for days, and a retried poison body helps no one.
      const text = raw.toString('utf8');
      let parsed: unknown;
      let unusable: string | undefined;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        unusable = `the body is not valid JSON (${String((err as Error).message).slice(0, 200)})`;
        ctx.metrics.webhookEvents.inc({ kind: 'request', result: 'unusable_bad_json' });
      }
      try {
        const { batch_id } = await services.webhooks.accept(text, parsed, { unusable });
        return reply.status(200).send({ received: true, batch_id, ...(unusable ? { unusable, set_aside: true } : {}) });
      } catch (err) {
        if (err instanceof BacklogFullError) return backlogFull(reply, err.backlog);
        ctx.log.error({ err }, 'webhooks: could not persist a batch');
        return sendError(
          reply,
          appError('STORE_UNAVAILABLE', 'The webhook could not be stored durably, so it was not acknowledged.', {
            fix: 'Nothing to do on the sender side: Meta retries. Check the database (GET /ready).',
          }),
        );
      }
    });
  });
};

export default webhookRoutes;
