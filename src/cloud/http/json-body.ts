/**
 * Reading a JSON request body against a zod schema: wrong content type 415,
 * unreadable JSON 400, unknown fields and wrong types 400 naming the field.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError, badRequest } from './api-error.js';

export async function readJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'send the body as JSON with Content-Type: application/json',
    );
  }
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw badRequest('the body is not valid JSON');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw badRequest(describeZodError(parsed.error));
  return parsed.data;
}

/** The first problem of a zod error, in one line: `field: message`. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid body';
  const path = issue.path.length ? issue.path.join('.') : 'body';
  if (issue.code === 'unrecognized_keys') {
    return `${path}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  return `${path}: ${issue.message}`;
}
