// Tool schemas as every MCP client takes them. zod's JSON Schema is correct, but it uses two constructs
// that clients mapping tool schemas onto a single-`type` dialect (the OpenAPI subset behind Gemini
// function declarations, and others) reject or silently drop, and that the MCP Inspector's `--strict`
// schema lint flags:
//   - a `type` array for a nullable primitive (`{"type": ["string", "null"]}`);
//   - a schema with no validation keyword (`{}`: "anything") for the extra keys of a loose object or a
//     record of unknown values (`"additionalProperties": {}`).
// portableSchema() rewrites both into equivalent forms (`anyOf` of single-type branches;
// `"additionalProperties": true`): every value valid before is valid after and nothing else is, so
// only the advertised shape changes. The server still validates every call with the zod schema itself.

type Schema = Record<string, unknown>;

/** Keywords whose value is one subschema. */
const ONE = [
  'items',
  'contains',
  'not',
  'propertyNames',
  'if',
  'then',
  'else',
  'additionalProperties',
  'unevaluatedProperties',
  'additionalItems',
  'unevaluatedItems',
  'contentSchema',
];
/** Keywords whose value is a list of subschemas. */
const LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
/** Keywords whose value maps names to subschemas. */
const MAP = ['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions'];
/** Where `true` is the plain way to say "any value" (a boolean elsewhere is itself unportable). */
const TRUE_OK = new Set(['additionalProperties', 'unevaluatedProperties', 'additionalItems', 'unevaluatedItems']);

/** Keywords that only apply to instances of one type: they move into that type's `anyOf` branch. */
const NUMERIC = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];
const FOR_TYPE: Record<string, string[]> = {
  string: ['minLength', 'maxLength', 'pattern', 'format', 'contentEncoding', 'contentMediaType', 'contentSchema'],
  number: NUMERIC,
  integer: NUMERIC,
  array: [
    'items',
    'additionalItems',
    'prefixItems',
    'contains',
    'minContains',
    'maxContains',
    'minItems',
    'maxItems',
    'uniqueItems',
    'unevaluatedItems',
  ],
  object: [
    'properties',
    'required',
    'additionalProperties',
    'patternProperties',
    'propertyNames',
    'minProperties',
    'maxProperties',
    'dependencies',
    'dependentRequired',
    'dependentSchemas',
    'unevaluatedProperties',
  ],
};

/** Keywords that make a schema constrain anything (the rest are annotations: description, title, ...). */
const CONSTRAINING = new Set([
  'type',
  'enum',
  'const',
  'required',
  'not',
  '$ref',
  '$dynamicRef',
  '$recursiveRef',
  'dependentRequired',
  ...ONE.filter((k) => !['if', 'then', 'else'].includes(k)),
  ...LIST,
  ...MAP.filter((k) => k !== '$defs' && k !== 'definitions'),
  'dependencies',
  ...Object.values(FOR_TYPE).flat(),
]);

const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);
const constrains = (s: Schema) => Object.keys(s).some((k) => CONSTRAINING.has(k)) || ('if' in s && ('then' in s || 'else' in s));

/** The schema in a form every client takes, accepting exactly the same values. Does not modify its input. */
export function portableSchema<T>(schema: T): T {
  return rewrite(schema, undefined) as T;
}

function rewrite(node: unknown, keyword: string | undefined): unknown {
  if (!isSchema(node)) return node;
  // `{}` (or only annotations) where `true` means the same: the extra keys of a loose object or record.
  if (keyword && TRUE_OK.has(keyword) && !constrains(node)) return true;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (ONE.includes(k)) out[k] = k === 'items' && Array.isArray(v) ? v.map((s) => rewrite(s, k)) : rewrite(v, k);
    else if (LIST.includes(k) && Array.isArray(v)) out[k] = v.map((s) => rewrite(s, k));
    else if ((MAP.includes(k) || k === 'dependencies') && isSchema(v))
      out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, Array.isArray(s) ? s : rewrite(s, k)]));
    else out[k] = v;
  }
  return Array.isArray(out.type) ? splitTypes(out, out.type as unknown[]) : out;
}

/** {type: [a, b], ...} → {anyOf: [{type: a, ...a's keywords}, {type: b, ...}], ...the rest}. */
function splitTypes(node: Schema, types: unknown[]): Schema {
  if (types.length === 1) return { ...node, type: types[0] };
  const { type: _type, ...rest } = node;
  const moved = new Set<string>();
  const branches = types.map((t) => {
    const branch: Schema = { type: t };
    for (const k of FOR_TYPE[String(t)] ?? []) {
      if (k in rest) {
        branch[k] = rest[k];
        moved.add(k);
      }
    }
    return branch;
  });
  const out: Schema = Object.fromEntries(Object.entries(rest).filter(([k]) => !moved.has(k)));
  // An anyOf already there must still hold too: both go under allOf.
  if (out.anyOf === undefined) out.anyOf = branches;
  else out.allOf = [...(Array.isArray(out.allOf) ? out.allOf : []), { anyOf: branches }];
  return out;
}
