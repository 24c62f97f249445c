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
  for (const [name, kind] of Object.entries(schema)) {
    if (!(name in obj)) return `${what}: missing field "${name}"`;
    if (!matchesKind(obj[name], kind)) return `${what}: field "${name}" must be ${kind}`;
  }
  if (!allowExtra) {
    for (const name of Object.keys(obj)) {
      if (!(name in schema)) return `${what}: unknown field "${name.slice(0, 64)}"`;
    }
  }
  return null;
}
