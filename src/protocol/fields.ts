/**
 * Field-level type checks shared by the record, profile and control-event validators.
 * @module
 */

/** Expected JSON type of one schema field. */
export type FieldKind = "str" | "int" | "float" | "bool" | "str?";

/** True when `v` matches the field kind. Floats accept any finite number (JSON `1` == `1.0`). */
export function matchesKind(v: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case "str":
      return typeof v === "string";
    case "str?":
      return v === null || typeof v === "string";
    case "int":
      return typeof v === "number" && Number.isSafeInteger(v);
    case "float":
      return typeof v === "number" && Number.isFinite(v);
    case "bool":
      return typeof v === "boolean";
  }
}

/**
 * Check that `raw` is a plain object with exactly the schema's fields (no missing, no unknown),
 * each of the right kind. Returns a reason on failure, or null.
 */
export function checkFields(
  raw: unknown,
  schema: Readonly<Record<string, FieldKind>>,
  what: string,
  allowExtra = false,
): string | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return `${what} must be a JSON object`;
  }
  const obj = raw as Record<string, unknown>;
  const fields = fieldsOf(schema);
  for (const [name, kind] of fields) {
    if (!Object.hasOwn(obj, name)) return `${what}: missing field "${name}"`;
    if (!matchesKind(obj[name], kind)) return `${what}: field "${name}" must be ${kind}`;
  }
  if (!allowExtra) {
    const keys = Object.keys(obj);
    // Every schema field is an own key, so as many keys as fields means none is unknown.
    if (keys.length === fields.length) return null;
    for (const name of keys) {
      if (!Object.hasOwn(schema, name)) return `${what}: unknown field "${name.slice(0, 64)}"`;
    }
    // Only a schema field that is own but not enumerable gets here: no JSON value has one.
    return `${what}: fields are not plain JSON properties`;
  }
  return null;
}

/** A schema's fields as a list, built once per schema: checks run on every record received. */
const FIELD_LISTS = new WeakMap<object, readonly [string, FieldKind][]>();

function fieldsOf(schema: Readonly<Record<string, FieldKind>>): readonly [string, FieldKind][] {
  let fields = FIELD_LISTS.get(schema);
  if (!fields) {
    fields = Object.entries(schema);
    FIELD_LISTS.set(schema, fields);
  }
  return fields;
}
