// Message categories. The category of a template comes from the template record (Meta's word), never
// from the caller; free-form messages are always `service`. Meta spells template categories in upper
// case: normalise here, in one place, so no rule ever compares "MARKETING" with "marketing" (the
// reference's gate was bypassed exactly that way: reference-system.md §7.1.1).
import type { Category } from './types.ts';

const TEMPLATE_CATEGORIES: Record<string, Exclude<Category, 'service'>> = {
  marketing: 'marketing',
  utility: 'utility',
  authentication: 'authentication',
};

/** "MARKETING" / "Marketing" / "marketing" → "marketing"; anything else → null (never a silent default). */
export function templateCategory(raw: unknown): Exclude<Category, 'service'> | null {
  if (typeof raw !== 'string') return null;
  return TEMPLATE_CATEGORIES[raw.trim().toLowerCase()] ?? null;
}

/** True for categories a business sends on its own initiative (templates): service is the reply. */
export function isBusinessInitiated(c: Category): boolean {
  return c !== 'service';
}
