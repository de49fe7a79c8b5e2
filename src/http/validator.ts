/**
 * A strict validator compiler for the admin routes, built on TypeBox's compiler.
 *
 * Fastify's default Ajv settings coerce types (`"true"` becomes `true`, `123` becomes `"123"`) and silently drop
 * unknown fields (`removeAdditional`). For an admin API that is the wrong way round: a field the server ignores,
 * or a value it guessed, is a change the admin did not mean. Here bodies are checked exactly as declared — no
 * coercion, no removal, no defaults — and only query strings and path parameters (which are text by nature) are
 * converted, exactly, to the declared scalar types first. Errors are shaped like Ajv's, so the common error mapping names
 * the field (`body.slug is required.`).
 */
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import { hasControlCharacter } from '../services/admin/validate.ts';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (value) => ISO_DATE_TIME.test(value) && Number.isFinite(Date.parse(value)));
}

/** At most this many errors are reported per request (the first names the field in the message). */
const MAX_ERRORS = 10;

function lastSegment(path: string): { parent: string; name: string } {
  const i = path.lastIndexOf('/');
  return { parent: path.slice(0, Math.max(0, i)), name: path.slice(i + 1).replace(/~1/g, '/').replace(/~0/g, '~') };
}

/** TypeBox's error as Ajv would word it (keyword, instancePath, params), without the submitted value. */
function toAjvError(e: ValueError): FastifySchemaValidationError {
  if (e.type === ValueErrorType.ObjectRequiredProperty) {
    const { parent, name } = lastSegment(e.path);
    return { keyword: 'required', instancePath: parent, schemaPath: '', params: { missingProperty: name }, message: `must have required property '${name}'` };
  }
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const { parent, name } = lastSegment(e.path);
    return { keyword: 'additionalProperties', instancePath: parent, schemaPath: '', params: { additionalProperty: name }, message: 'must NOT have additional properties' };
  }
  // The value is only tested, never echoed: say what is wrong with it instead of quoting the pattern.
  if (e.type === ValueErrorType.StringPattern && typeof e.value === 'string' && hasControlCharacter(e.value)) {
    return { keyword: 'pattern', instancePath: e.path, schemaPath: '', params: {}, message: 'must not contain control characters' };
  }
  return { keyword: 'type', instancePath: e.path, schemaPath: '', params: {}, message: wordAsAjv(e.message) };
}

/** TypeBox says "Expected string"; the error mapping completes "<field> …", so say "must be string". */
function wordAsAjv(message: string): string {
  if (message === 'Expected union value') return 'must be one of the allowed values';
  if (message.startsWith('Expected ')) return `must be ${message.slice('Expected '.length)}`;
  return message.charAt(0).toLowerCase() + message.slice(1);
}

/**
 * Fastify `validatorCompiler` for the admin scope.
 *
 * @example
 * adminScope.setValidatorCompiler(strictValidatorCompiler);
 */
/**
 * Converts the text values of a flat query string or path to the declared scalar types, exactly: `"10"` → 10 for
 * an integer, never `"1.5"` → 1 (TypeBox's `Value.Convert` truncates); `"true"`/`"false"` for booleans. Anything
 * else is left as text for the check to refuse.
 */
function convertScalars(schema: TSchema, data: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const out: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  for (const [key, value] of Object.entries(out)) {
    const type = properties[key]?.type;
    if (typeof value !== 'string') continue;
    if (type === 'integer' && /^-?(0|[1-9][0-9]{0,15})$/.test(value)) out[key] = Number(value);
    else if (type === 'number' && /^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,15})?$/.test(value)) out[key] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[key] = value === 'true';
  }
  return out;
}

export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const convert = httpPart === 'querystring' || httpPart === 'params';
  const validate = (data: unknown): boolean | { value: unknown } => {
    const value = convert ? convertScalars(schema, data) : data;
    if (check.Check(value)) {
      validate.errors = null;
      return convert ? { value } : true;
    }
    const errors: FastifySchemaValidationError[] = [];
    for (const e of check.Errors(value)) {
      errors.push(toAjvError(e));
      if (errors.length >= MAX_ERRORS) break;
    }
    validate.errors = errors;
    return false;
  };
  validate.errors = null as FastifySchemaValidationError[] | null;
  return validate as unknown as ReturnType<FastifySchemaCompiler<TSchema>>;
};
