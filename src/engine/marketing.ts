// Marketing Messages API routing (issue 14, changes-2026.md §4): Meta's "Route template messages by
// category" page (21 Sep 2026) sends MARKETING templates to /{phone-number-id}/marketing_messages,
// and a WABA with disable_marketing_messages_on_cloud_api answers 131063 on /messages. Where a
// number's marketing goes is configuration: senders[].marketing_endpoint, or its WABA listed in
// meta.marketing_messages_wabas. Only marketing templates move: Meta's MM API takes nothing else.
import type { Config } from '../config/schema.ts';
import type { MessageRecord, SenderConfig } from '../domain/types.ts';
import type { SendEndpoint } from '../meta/types.ts';

/** Where marketing templates of this sender go: the sender's own setting, else its WABA's, else /messages. */
export function marketingRoute(config: Pick<Config, 'senders' | 'meta'>, sender: Pick<SenderConfig, 'id' | 'waba_id'>): SendEndpoint {
  const own = config.senders.find((s) => s.id === sender.id)?.marketing_endpoint;
  if (own) return own;
  return config.meta.marketing_messages_wabas.includes(sender.waba_id) ? 'marketing_messages' : 'messages';
}

/** The endpoint a stored message is posted to. */
export function endpointFor(
  config: Pick<Config, 'senders' | 'meta'>,
  sender: Pick<SenderConfig, 'id' | 'waba_id'>,
  msg: Pick<MessageRecord, 'category' | 'type'>,
): SendEndpoint {
  return msg.type === 'template' && msg.category === 'marketing' ? marketingRoute(config, sender) : 'messages';
}
