// Opt-out / opt-in keywords. Meta defines no STOP mechanism for WhatsApp (cloud-api.md §6.3): this is
// the SMS (CTIA / Twilio) convention that BSPs carry over, so the rule is the same: only a message
// that IS the keyword counts ("STOP" yes, "please stop calling me" no), case-insensitive, ignoring
// surrounding whitespace, punctuation and accents. A configured list replaces the default one.
import type { Category } from '../domain/types.ts';

/** Defaults: Twilio's six + REVOKE/OPTOUT (§6.4), then Spanish, Portuguese, Indonesian and Hindi. */
export const DEFAULT_OPT_OUT_KEYWORDS: readonly string[] = [
  // English (Twilio defaults and their advanced list)
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'REVOKE',
  'OPTOUT',
  'OPT-OUT',
  'OPT OUT',
  // Spanish
  'BAJA',
  'DAR DE BAJA',
  'PARAR',
  'DETENER',
  'ALTO',
  'CANCELAR',
  'NO MAS',
  'DESUSCRIBIR',
  // Portuguese
  'PARE',
  'SAIR',
  'DESCADASTRAR',
  'CANCELAR INSCRICAO',
  'NAO QUERO MAIS',
  // Indonesian
  'BERHENTI',
  'BERHENTI LANGGANAN',
  'BATAL',
  'STOP LANGGANAN',
  // Hindi (Devanagari and the usual romanisation)
  'बंद',
  'बंद करो',
  'बंद करें',
  'रोको',
  'रोकें',
  'BAND KARO',
  'BAND KAREN',
];

/** Opt back in: START / UNSTOP / YES (Twilio) and equivalents. Only undoes an opt-out. */
export const DEFAULT_OPT_IN_KEYWORDS: readonly string[] = [
  'START',
  'UNSTOP',
  'YES',
  'SUBSCRIBE',
  'ALTA',
  'DAR DE ALTA',
  'COMENZAR', // Spanish
  'VOLTAR',
  'ASSINAR', // Portuguese
  'MULAI',
  'LANGGANAN', // Indonesian
  'शुरू',
  'शुरू करो',
  'SHURU', // Hindi
];

/** Quick-reply buttons that mean "no more marketing" (Meta's own template example: "Stop promotions"). */
export const MARKETING_STOP_BUTTONS: readonly string[] = [
  'STOP PROMOTIONS',
  'STOP PROMOTION',
  'STOP_PROMOTIONS',
  'STOP MARKETING',
  'UNSUBSCRIBE FROM PROMOTIONS',
  'NOT INTERESTED',
  'DETENER PROMOCIONES',
  'PARAR PROMOCOES',
  'BERHENTI PROMOSI',
];

/** Categories a general STOP keyword opts out of. Authentication (codes the user asks for) and service
 * replies inside a window the customer opens stay possible: a STOP is "stop messaging me", not "never
 * answer me" (cloud-api.md §6.4: a general STOP blocks everything except user-initiated messages). */
export const STOP_CATEGORIES: readonly Category[] = ['marketing', 'utility'];

/** Case-fold, strip accents (Latin combining marks only: Devanagari vowel signs are letters), keep
 * letters/digits, collapse whitespace, "-" and "_" into one space. */
export function normalizeKeyword(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .normalize('NFC')
    .toUpperCase()
    .replace(/[^\p{L}\p{M}\p{N}]+/gu, ' ')
    .trim();
}

export interface KeywordMatcher {
  match(text: string | null | undefined): { kind: 'opt_out' | 'opt_in' | 'marketing_stop'; keyword: string } | null;
}

export function createKeywordMatcher(
  opts: { opt_out?: readonly string[]; opt_in?: readonly string[]; marketing_stop?: readonly string[] } = {},
): KeywordMatcher {
  const table = new Map<string, { kind: 'opt_out' | 'opt_in' | 'marketing_stop'; keyword: string }>();
  // Later lists never override an earlier one: opt-out wins over opt-in if a word is in both.
  const add = (words: readonly string[], kind: 'opt_out' | 'opt_in' | 'marketing_stop') => {
    for (const w of words) {
      const k = normalizeKeyword(w);
      if (k && !table.has(k)) table.set(k, { kind, keyword: k });
    }
  };
  add(opts.opt_out ?? DEFAULT_OPT_OUT_KEYWORDS, 'opt_out');
  add(opts.marketing_stop ?? MARKETING_STOP_BUTTONS, 'marketing_stop');
  add(opts.opt_in ?? DEFAULT_OPT_IN_KEYWORDS, 'opt_in');
  return {
    match(text) {
      if (typeof text !== 'string' || text.length === 0 || text.length > 64) return null; // whole-message keywords are short
      return table.get(normalizeKeyword(text)) ?? null;
    },
  };
}
