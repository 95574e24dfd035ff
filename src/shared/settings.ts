// Names of the store's settings (Store.getSetting / setSetting) that one concern writes and another
// reads, in one place so neither imports the other.

/** When a webhook POST was last answered 503 (backlog full, store down), by any instance (ms). */
export const WEBHOOKS_REFUSED_SETTING = 'webhooks.refused_at';
