// Template language codes as Meta means them: "en_US", "pt_BR", "de". Callers write "en-US", "EN_us" or
// "pt-br" for the same language; Meta's template API and webhooks use the underscore form with the
// language in lower case and the region in upper case. Every template lookup and record goes through
// templateLanguage(), so "en-US" and "en_US" are one template, never two (issue 14).

/** Meta's form of a template language code; anything that does not look like one is returned trimmed. */
export function templateLanguage(code: string): string {
  const s = code.trim().replace(/-/g, '_');
  const m = /^([A-Za-z]{2,3})(?:_([A-Za-z0-9]{2,4}))?$/.exec(s);
  if (!m) return s;
  const lang = m[1]!.toLowerCase();
  const region = m[2];
  if (!region) return lang;
  // A two-letter region is a country (en_US); four letters a script (zh_Hant); digits stay as they are.
  const r = /^[A-Za-z]{2}$/.test(region)
    ? region.toUpperCase()
    : /^[A-Za-z]{4}$/.test(region)
      ? region[0]!.toUpperCase() + region.slice(1).toLowerCase()
      : region;
  return `${lang}_${r}`;
}
