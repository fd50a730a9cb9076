/**
 * Jinja for `JINJA_QUERY_BEGIN; ... JINJA_END;` and `JINJA_STATEMENT_BEGIN;`
 * blocks, with nunjucks. Every block can call the macros defined in the
 * project's macros/*.sql files by name. Output is not escaped; printing an
 * undefined value is an error. The output then goes through the macro
 * renderer, as in SQLMesh, where Jinja renders first.
 *
 * Globals: the temporal variables (`start_ds`, `end_ts`, `execution_epoch`,
 * ...; datetimes print as text), `runtime_stage`, `this_model`,
 * `model_kind_name`, `var('name', default)`, `blueprint_var('name', default)`
 * and `gateway()`. `True`, `False` and `None` work as in Jinja.
 */

import nunjucks from 'nunjucks';
import { ProjectError, type SourceLocation } from '../errors.js';
import type { JinjaMacroFile, SqlFragment } from '../model-types.js';
import type { JinjaStage, MacroContext } from './macro-renderer.js';
import { temporalVariables } from './temporal-variables.js';

/** The part of nunjucks' Template that the type definitions leave out. */
interface ExportingTemplate {
  getExported(ctx: object, cb: (err: unknown, result: unknown) => void): void;
}

let compatInstalled = false;

/** nunjucks accepts Jinja's True/False/None and Python list/dict methods only after this (process-wide). */
function installCompat(): void {
  if (!compatInstalled) {
    nunjucks.installJinjaCompat();
    compatInstalled = true;
  }
}

interface NunjucksErrorLike {
  message?: unknown;
  lineno?: unknown;
  colno?: unknown;
}

/** The reason in a nunjucks error message, without its path and position prefix. */
function reasonOf(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const lines = raw
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^\(.*\)( \[Line \d+, Column \d+\])?$/.test(l));
  const text = (lines.join(' ') || raw).replace(/^Template render error:\s*/, '');
  return text
    .replace(/^\(.*?\)\s*(\[Line \d+, Column \d+\])?\s*/, '')
    .replace(/^Error:\s*/, '')
    .trim();
}

function positionOf(err: unknown): { line: number; column: number } | undefined {
  const e = err as NunjucksErrorLike;
  if (typeof e?.lineno === 'number' && e.lineno > 0) {
    return { line: e.lineno, column: typeof e.colno === 'number' && e.colno > 0 ? e.colno : 1 };
  }
  const m = /\[Line (\d+), Column (\d+)\]/.exec(err instanceof Error ? err.message : '');
  if (m) return { line: Number(m[1]), column: Math.max(1, Number(m[2])) };
  return undefined;
}

function locate(
  base: SourceLocation,
  pos: { line: number; column: number } | undefined,
): SourceLocation {
  if (!pos) return base;
  return {
    file: base.file,
    line: base.line + pos.line - 1,
    column: pos.line === 1 ? base.column + pos.column - 1 : pos.column,
  };
}

/** The `{{ ... }}` around a position, to name what was undefined. */
function expressionAt(
  source: string,
  pos: { line: number; column: number } | undefined,
): string | undefined {
  if (!pos) return undefined;
  const line = source.split('\n')[pos.line - 1];
  if (line === undefined) return undefined;
  const open = line.lastIndexOf('{{', pos.column);
  if (open === -1) return undefined;
  const close = line.indexOf('}}', open);
  if (close === -1) return undefined;
  return line
    .slice(open + 2, close)
    .replace(/^-|-$/g, '')
    .trim();
}

function toProjectError(err: unknown, source: string, base: SourceLocation): ProjectError {
  if (err instanceof ProjectError) return err;
  const pos = positionOf(err);
  let reason = reasonOf(err);
  if (reason.includes('attempted to output null or undefined value')) {
    const expr = expressionAt(source, pos);
    reason = expr
      ? `Jinja: '${expr}' is undefined (or null); define it with {% set %} or pass it as a macro argument`
      : 'Jinja: an undefined (or null) value was printed';
  } else {
    reason = `Jinja: ${reason}`;
  }
  return new ProjectError(reason, locate(base, pos), { cause: err });
}

/** Renders Jinja blocks of one project. Build one per project and reuse it. */
export class JinjaRenderer implements JinjaStage {
  private readonly env: nunjucks.Environment;
  private readonly macroTemplates: Array<{ file: JinjaMacroFile; template: nunjucks.Template }> =
    [];
  private readonly cache = new Map<string, nunjucks.Template>();

  /** Compiles the macro files; a syntax error in one is a ProjectError at its position. */
  constructor(macroFiles: JinjaMacroFile[] = []) {
    installCompat();
    this.env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true });
    for (const file of macroFiles) {
      try {
        const template = new nunjucks.Template(file.source, this.env, file.path, true);
        this.macroTemplates.push({ file, template });
      } catch (err) {
        throw toProjectError(err, file.source, { file: file.path, line: 1, column: 1 });
      }
    }
  }

  /** The variables and functions a template sees for this context. */
  globals(ctx: MacroContext): Record<string, unknown> {
    const vars: Record<string, unknown> = {};
    for (const v of Object.values(
      temporalVariables({
        start: ctx.start,
        end: ctx.end,
        executionTime: ctx.executionTime,
        dialect: ctx.dialect,
      }),
    )) {
      vars[v.name] = v.jinja;
    }
    const variables = new Map<string, unknown>();
    for (const [k, v] of Object.entries(ctx.variables)) variables.set(k.toLowerCase(), v);
    if (ctx.gateway !== undefined) variables.set('gateway', ctx.gateway);
    const blueprint = new Map<string, unknown>();
    for (const [k, v] of Object.entries(ctx.blueprintVariables ?? {}))
      blueprint.set(k.toLowerCase(), v);
    const reader =
      (map: Map<string, unknown>) =>
      (name: unknown, fallback: unknown = null): unknown => {
        const key = String(name).toLowerCase();
        return map.has(key) ? map.get(key) : fallback;
      };
    for (const [k, v] of Object.entries(ctx.extraVariables ?? {})) vars[k] = v;
    vars.runtime_stage = ctx.runtimeStage ?? 'loading';
    if (ctx.thisModel !== undefined) vars.this_model = ctx.thisModel;
    if (ctx.modelKindName !== undefined) vars.model_kind_name = ctx.modelKindName;
    vars.var = reader(variables);
    vars.blueprint_var = reader(blueprint);
    vars.gateway = () => variables.get('gateway') ?? null;
    return vars;
  }

  /** Renders Jinja text written at `location`. */
  renderText(text: string, ctx: MacroContext, location: SourceLocation): string {
    const vars = this.globals(ctx);
    for (const { file, template } of this.macroTemplates) {
      try {
        let exported: Record<string, unknown> = {};
        (template as unknown as ExportingTemplate).getExported(vars, (err, result) => {
          if (err) throw err;
          exported = (result ?? {}) as Record<string, unknown>;
        });
        for (const [name, macro] of Object.entries(exported)) {
          if (typeof macro === 'function') this.env.addGlobal(name, macro);
        }
      } catch (err) {
        throw toProjectError(err, file.source, { file: file.path, line: 1, column: 1 });
      }
    }
    let template = this.cache.get(text);
    try {
      if (!template) {
        template = new nunjucks.Template(text, this.env, location.file, true);
        if (this.cache.size > 1000) this.cache.clear();
        this.cache.set(text, template);
      }
      return template.render(vars);
    } catch (err) {
      throw toProjectError(err, text, location);
    }
  }

  /** Renders a fragment written in Jinja. */
  render(fragment: SqlFragment, ctx: MacroContext): string {
    return this.renderText(fragment.sql, ctx, fragment.location);
  }
}
