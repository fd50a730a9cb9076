/**
 * Renders SQLMesh macros in SQL text into plain SQL, before the SQL parser
 * sees it: variables (`@name`, `@{name}`, `col_@name`, `"@{name}"`,
 * `@'text @name'`), `@DEF` definitions (values and lambdas), and the built-in
 * macro functions (`@IF`, `@EACH`, `@REDUCE`, `@FILTER`, `@EVAL`, `@SQL`,
 * `@VAR`, `@BLUEPRINT_VAR`, `@AND`, `@OR`, `@GENERATE_SURROGATE_KEY`,
 * `@SAFE_ADD`, `@SAFE_SUB`, `@SAFE_DIV`, `@HAVERSINE_DISTANCE`, `@STAR` and
 * the clause macros `@WITH`, `@JOIN`, `@WHERE`, `@GROUP_BY`, `@HAVING`,
 * `@ORDER_BY`, `@LIMIT`).
 *
 * Text outside macros is copied unchanged, and so are string literals and
 * comments. Quoted identifiers containing `@` are substituted, as SQLMesh
 * does; a name they do not define is left as written there.
 */

import type { ProjectError, SourceLocation } from '../errors.js';
import type { SqlFragment } from '../model-types.js';
import {
  isTrivia,
  lexMacroSql,
  lexOptionsForDialect,
  MacroSource,
  type LexOptions,
  type MacroToken,
} from './macro-lexer.js';
import { EvalError, evalValueSql, evaluateSql, truthy, type EvalValue } from './macro-evaluator.js';
import {
  identifierSql,
  jsValue,
  listValue,
  matchingClose,
  quoteIdentifier,
  splitTopLevel,
  sqlString,
  sqlValue,
  substituteTemplate,
  trimRange,
  type MacroValue,
} from './macro-values.js';
import { temporalVariables } from './temporal-variables.js';

/** Where a render happens, as SQLMesh names it in `@runtime_stage`. */
export type RuntimeStage =
  | 'loading'
  | 'creating'
  | 'evaluating'
  | 'promoting'
  | 'demoting'
  | 'auditing'
  | 'testing'
  | 'before_all'
  | 'after_all';

/** A column as `@STAR` needs it; without a type the column is selected without a cast. */
export interface StarColumn {
  name: string;
  type?: string;
}

/** Everything a render depends on besides the SQL itself. */
export interface MacroContext {
  /** Interval start, inclusive, epoch ms. */
  start: number;
  /** Interval end, exclusive, epoch ms (the `@end_*` variables show the instant before it). */
  end: number;
  /** Execution time, epoch ms. */
  executionTime: number;
  /** Project `variables`, already overlaid with the gateway's `variables`. Keys are case-insensitive. */
  variables: Record<string, unknown>;
  /** Blueprint variables of the model: name -> SQL expression text. They win over `variables`. */
  blueprintVariables?: Record<string, string>;
  /** `@this_model`: the table name as SQL, already quoted as it should appear. */
  thisModel?: string;
  /** `@gateway`: the name of the current gateway. */
  gateway?: string;
  /** `@runtime_stage`; defaults to 'loading'. */
  runtimeStage?: RuntimeStage;
  /** `@model_kind_name`, e.g. 'FULL'. */
  modelKindName?: string;
  /** Further predefined variables (`this_env`, `schemas`, `views`), as configuration values. */
  extraVariables?: Record<string, unknown>;
  /** The dialect the SQL is written in. */
  dialect: string;
  /** Columns of a table, for `@STAR`; undefined when they are not known. */
  columnsOf?: (table: string) => Array<string | StarColumn> | undefined;
}

/** A Jinja stage run before macros on fragments written in Jinja. */
export interface JinjaStage {
  render(fragment: SqlFragment, ctx: MacroContext): string;
}

interface Lambda {
  params: string[];
  source: MacroSource;
  tokens: MacroToken[];
  from: number;
  to: number;
  bindings: Map<string, MacroValue> | undefined;
}

type Arg =
  | { kind: 'value'; value: MacroValue; offset: number }
  | { kind: 'lambda'; lambda: Lambda; offset: number };

interface Call {
  name: string;
  args: Arg[];
  kwargs: Map<string, Arg>;
  offset: number;
  source: MacroSource;
  /** Lambda arguments in effect where the call is written. */
  bindings: Map<string, MacroValue> | undefined;
}

type Builtin = (scope: MacroScope, call: Call) => MacroValue | null;

const CLAUSE_KEYWORDS = new Set([
  'FROM',
  'WHERE',
  'GROUP',
  'HAVING',
  'QUALIFY',
  'WINDOW',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'FETCH',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'JOIN',
  'LEFT',
  'RIGHT',
  'FULL',
  'INNER',
  'CROSS',
  'NATURAL',
  'ON',
  'USING',
  'SELECT',
]);

const CLAUSE_MACROS: Record<string, string> = {
  WITH: 'WITH',
  JOIN: 'JOIN',
  WHERE: 'WHERE',
  GROUP_BY: 'GROUP BY',
  HAVING: 'HAVING',
  ORDER_BY: 'ORDER BY',
  LIMIT: 'LIMIT',
};

const JOIN_WORDS = new Set([
  'LEFT',
  'RIGHT',
  'FULL',
  'OUTER',
  'INNER',
  'CROSS',
  'NATURAL',
  'SEMI',
  'ANTI',
]);

function isPunct(t: MacroToken | undefined, p: string): boolean {
  return t !== undefined && t.kind === 'punct' && t.text === p;
}

function nextSignificant(tokens: MacroToken[], i: number, to: number): number {
  while (i < to && isTrivia(tokens[i])) i += 1;
  return i;
}

/** Wraps SQL in parentheses when it is a binary expression at its top level. */
function wrapBinary(sql: string, dialect: string, connectorsOnly = false): string {
  const tokens = lexMacroSql(
    new MacroSource(sql, { file: '', line: 1, column: 1 }),
    lexOptionsForDialect(dialect),
  );
  let depth = 0;
  let between = 0;
  let first = true;
  for (const t of tokens) {
    if (isTrivia(t)) continue;
    const wasFirst = first;
    first = false;
    if (t.kind === 'punct') {
      if (t.text === '(' || t.text === '[') depth += 1;
      else if (t.text === ')' || t.text === ']') depth -= 1;
      else if (
        depth === 0 &&
        !connectorsOnly &&
        !wasFirst &&
        t.text !== '::' &&
        t.text !== '.' &&
        t.text !== ','
      ) {
        return `(${sql})`;
      }
      continue;
    }
    if (t.kind !== 'word') continue;
    const w = t.text.toUpperCase();
    if (w === 'CASE') depth += 1;
    else if (w === 'END' && depth > 0) depth -= 1;
    else if (depth === 0) {
      if (w === 'BETWEEN') between += 1;
      else if (w === 'AND' && between > 0) between -= 1;
      else if (w === 'AND' || w === 'OR') return `(${sql})`;
      else if (!connectorsOnly && ['IS', 'LIKE', 'ILIKE', 'IN', 'NOT'].includes(w) && !wasFirst) {
        return `(${sql})`;
      }
    }
  }
  return sql;
}

/** The SQL text type for casts, per dialect. */
function textType(dialect: string): string {
  switch (dialect.toLowerCase()) {
    case 'bigquery':
    case 'spark':
    case 'spark2':
    case 'databricks':
    case 'hive':
      return 'STRING';
    case 'tsql':
      return 'VARCHAR(MAX)';
    case 'mysql':
      return 'CHAR';
    default:
      return 'TEXT';
  }
}

function argValue(call: Call, i: number): MacroValue | undefined {
  const a = call.args[i];
  return a?.kind === 'value' ? a.value : undefined;
}

function requireValue(call: Call, arg: Arg | undefined, what: string): MacroValue {
  if (arg === undefined) {
    throw call.source.error(`@${call.name} needs ${what}`, call.offset);
  }
  if (arg.kind !== 'value') {
    throw call.source.error(`@${call.name}: ${what} cannot be a lambda`, arg.offset);
  }
  return arg.value;
}

function requireLambda(call: Call, arg: Arg | undefined): Lambda {
  if (arg === undefined || arg.kind !== 'lambda') {
    throw call.source.error(
      `@${call.name} needs a lambda as its last argument, such as x -> x + 1`,
      arg?.offset ?? call.offset,
    );
  }
  return arg.lambda;
}

/** The items of a list argument (or of several arguments), as SQLMesh unpacks them. */
function itemsOf(call: Call, args: Arg[]): MacroValue[] {
  const values = args.map((a, i) => requireValue(call, a, `a value as argument ${i + 1}`));
  if (values.length === 1) {
    const only = values[0] as MacroValue;
    return only.items ?? [only];
  }
  return values;
}

function noKwargs(call: Call): void {
  const first = call.kwargs.keys().next();
  if (!first.done) {
    const arg = call.kwargs.get(first.value);
    throw call.source.error(
      `@${call.name} takes no argument named '${first.value}'`,
      arg?.offset ?? call.offset,
    );
  }
}

function arity(call: Call, min: number, max: number, usage: string): void {
  const n = call.args.length;
  if (n < min || n > max) {
    throw call.source.error(
      `@${call.name} takes ${usage}, got ${n} argument${n === 1 ? '' : 's'}`,
      call.offset,
    );
  }
}

function nullish(value: MacroValue): boolean {
  const s = value.sql.trim();
  return s === '' || s.toUpperCase() === 'NULL';
}

const BUILTINS: Record<string, Builtin> = {
  IF(scope, call) {
    noKwargs(call);
    arity(call, 2, 3, '2 or 3 arguments: @IF(condition, value_if_true[, value_if_false])');
    const cond = requireValue(call, call.args[0], 'a condition');
    const result = scope.evaluate(cond.sql, call, call.args[0]?.offset ?? call.offset);
    const chosen = truthy(result) ? call.args[1] : call.args[2];
    return chosen === undefined ? null : requireValue(call, chosen, 'a value');
  },
  EACH(scope, call) {
    noKwargs(call);
    if (call.args.length < 2)
      throw call.source.error(
        '@EACH takes a list and a lambda: @EACH([a, b], x -> x)',
        call.offset,
      );
    const fn = requireLambda(call, call.args[call.args.length - 1]);
    const items = itemsOf(call, call.args.slice(0, -1));
    const out: MacroValue[] = [];
    for (const item of items) {
      const r = scope.apply(fn, [item]);
      if (r.sql.trim() !== '') out.push(r);
    }
    return listValue(out);
  },
  REDUCE(scope, call) {
    noKwargs(call);
    if (call.args.length < 2)
      throw call.source.error(
        '@REDUCE takes a list and a lambda: @REDUCE([a, b], (x, y) -> x + y)',
        call.offset,
      );
    const fn = requireLambda(call, call.args[call.args.length - 1]);
    const items = itemsOf(call, call.args.slice(0, -1));
    if (items.length === 0) throw call.source.error('@REDUCE needs at least one item', call.offset);
    let acc = items[0] as MacroValue;
    for (let i = 1; i < items.length; i++) acc = scope.apply(fn, [acc, items[i] as MacroValue]);
    return acc;
  },
  FILTER(scope, call) {
    noKwargs(call);
    if (call.args.length < 2)
      throw call.source.error(
        '@FILTER takes a list and a lambda: @FILTER([a, b], x -> x > 1)',
        call.offset,
      );
    const lambdaArg = call.args[call.args.length - 1];
    const fn = requireLambda(call, lambdaArg);
    const items = itemsOf(call, call.args.slice(0, -1));
    const kept = items.filter((item) =>
      truthy(scope.evaluate(scope.apply(fn, [item]).sql, call, lambdaArg?.offset ?? call.offset)),
    );
    return listValue(kept);
  },
  EVAL(scope, call) {
    noKwargs(call);
    arity(call, 1, 1, '1 argument');
    const v = requireValue(call, call.args[0], 'an expression');
    return sqlValue(evalValueSql(scope.evaluate(v.sql, call, call.args[0]?.offset ?? call.offset)));
  },
  SQL(scope, call) {
    arity(call, 1, 2, "1 or 2 arguments: @SQL('text'[, into])");
    const v = requireValue(call, call.args[0], 'a string');
    if (v.sql.trim().startsWith("'")) {
      return sqlValue(substituteTemplate(v.text, (n) => scope.lookup(n, call.bindings)));
    }
    const r = scope.evaluate(v.sql, call, call.args[0]?.offset ?? call.offset);
    return sqlValue(typeof r === 'string' ? r : evalValueSql(r));
  },
  VAR(scope, call) {
    noKwargs(call);
    arity(call, 1, 2, "1 or 2 arguments: @VAR('name'[, default])");
    const name = requireValue(call, call.args[0], 'a variable name');
    if (!name.sql.trim().startsWith("'")) {
      throw call.source.error(
        `@VAR: the variable name must be a string literal such as '${name.sql}'`,
        call.args[0]?.offset ?? call.offset,
      );
    }
    return scope.variable(name.text) ?? argValue(call, 1) ?? jsValue(null);
  },
  BLUEPRINT_VAR(scope, call) {
    noKwargs(call);
    arity(call, 1, 2, "1 or 2 arguments: @BLUEPRINT_VAR('name'[, default])");
    const name = requireValue(call, call.args[0], 'a variable name');
    if (!name.sql.trim().startsWith("'")) {
      throw call.source.error(
        `@BLUEPRINT_VAR: the variable name must be a string literal such as '${name.sql}'`,
        call.args[0]?.offset ?? call.offset,
      );
    }
    return scope.blueprintVariable(name.text) ?? argValue(call, 1) ?? jsValue(null);
  },
  AND(scope, call) {
    return connect(scope, call, 'AND');
  },
  OR(scope, call) {
    return connect(scope, call, 'OR');
  },
  GENERATE_SURROGATE_KEY(scope, call) {
    const fields = call.args.map((a, i) => requireValue(call, a, `a field as argument ${i + 1}`));
    if (fields.length === 0)
      throw call.source.error('@GENERATE_SURROGATE_KEY needs at least one field', call.offset);
    for (const key of call.kwargs.keys()) {
      if (key !== 'hash_function')
        throw call.source.error(
          `@GENERATE_SURROGATE_KEY takes no argument named '${key}'`,
          call.offset,
        );
    }
    const hashArg = call.kwargs.get('hash_function');
    const hash = hashArg ? requireValue(call, hashArg, 'a hash function name').text : 'MD5';
    const type = textType(scope.dialect);
    const parts = fields.map(
      (f) => `COALESCE(CAST(${f.sql} AS ${type}), '_sqlmesh_surrogate_key_null_')`,
    );
    const concat = `CONCAT(${parts.join(", '|', ")})`;
    const fn = hash.toUpperCase();
    if (fn === 'MD5' && scope.dialect.toLowerCase() === 'bigquery')
      return sqlValue(`TO_HEX(MD5(${concat}))`);
    return sqlValue(`${fn}(${concat})`);
  },
  SAFE_ADD(scope, call) {
    return safeArithmetic(scope, call, '+');
  },
  SAFE_SUB(scope, call) {
    return safeArithmetic(scope, call, '-');
  },
  SAFE_DIV(scope, call) {
    noKwargs(call);
    arity(call, 2, 2, '2 arguments: @SAFE_DIV(numerator, denominator)');
    const n = requireValue(call, call.args[0], 'a numerator');
    const d = requireValue(call, call.args[1], 'a denominator');
    return sqlValue(`${wrapBinary(n.sql, scope.dialect)} / NULLIF(${d.sql}, 0)`);
  },
  HAVERSINE_DISTANCE(scope, call) {
    noKwargs(call);
    arity(
      call,
      4,
      5,
      "4 or 5 arguments: @HAVERSINE_DISTANCE(lat1, lon1, lat2, lon2[, 'mi' | 'km'])",
    );
    const [lat1, lon1, lat2, lon2] = call.args
      .slice(0, 4)
      .map((a) => requireValue(call, a, 'a coordinate').sql);
    const unitArg = argValue(call, 4);
    const unit = unitArg ? unitArg.text : 'mi';
    let rate: string;
    if (unit === 'mi') rate = '1.0';
    else if (unit === 'km') rate = '1.60934';
    else
      throw call.source.error(
        `@HAVERSINE_DISTANCE: unit must be 'mi' or 'km', not '${unit}'`,
        call.offset,
      );
    return sqlValue(
      `7922 * ASIN(SQRT((POWER(SIN(RADIANS((${lat2} - ${lat1}) / 2)), 2)) + ` +
        `(COS(RADIANS(${lat1})) * COS(RADIANS(${lat2})) * POWER(SIN(RADIANS((${lon2} - ${lon1}) / 2)), 2)))) * ${rate}`,
    );
  },
  STAR(scope, call) {
    return star(scope, call);
  },
};

function connect(scope: MacroScope, call: Call, op: 'AND' | 'OR'): MacroValue {
  noKwargs(call);
  const conditions = call.args
    .map((a, i) => requireValue(call, a, `a condition as argument ${i + 1}`))
    .filter((v) => !nullish(v));
  if (conditions.length === 0) return sqlValue('TRUE');
  if (conditions.length === 1) return conditions[0] as MacroValue;
  return sqlValue(conditions.map((c) => wrapBinary(c.sql, scope.dialect, true)).join(` ${op} `));
}

function safeArithmetic(scope: MacroScope, call: Call, op: '+' | '-'): MacroValue {
  noKwargs(call);
  const fields = call.args.map((a, i) => requireValue(call, a, `an operand as argument ${i + 1}`));
  if (fields.length === 0)
    throw call.source.error(`@${call.name} needs at least one operand`, call.offset);
  const nulls = fields.map((f) => `${wrapBinary(f.sql, scope.dialect)} IS NULL`).join(' AND ');
  const sum = fields.map((f) => `COALESCE(${f.sql}, 0)`).join(` ${op} `);
  return sqlValue(`CASE WHEN ${nulls} THEN NULL ELSE ${sum} END`);
}

const STAR_PARAMS = [
  'relation',
  'alias',
  'exclude',
  'prefix',
  'suffix',
  'quote_identifiers',
  'except_',
];

function star(scope: MacroScope, call: Call): MacroValue {
  const named = new Map<string, MacroValue>();
  call.args.forEach((a, i) => {
    const param = STAR_PARAMS[i];
    if (param === undefined)
      throw call.source.error(`@STAR takes at most ${STAR_PARAMS.length} arguments`, a.offset);
    named.set(param, requireValue(call, a, param));
  });
  for (const [k, a] of call.kwargs) {
    if (!STAR_PARAMS.includes(k))
      throw call.source.error(`@STAR takes no argument named '${k}'`, a.offset);
    named.set(k, requireValue(call, a, k));
  }
  const relation = named.get('relation');
  if (!relation)
    throw call.source.error('@STAR needs a relation: @STAR(table[, alias])', call.offset);
  const lastPart = (sql: string): string => {
    const parts = sql.trim().split('.');
    const last = (parts[parts.length - 1] ?? '').trim();
    return /^["`]/.test(last) ? last.slice(1, -1) : last;
  };
  const alias = named.get('alias');
  const excludeValue = named.get('exclude') ?? named.get('except_');
  const excluded = new Set(
    (excludeValue ? (excludeValue.items ?? [excludeValue]) : []).map((v) => v.text.toLowerCase()),
  );
  const prefix = named.get('prefix')?.text ?? '';
  const suffix = named.get('suffix')?.text ?? '';
  const quoteValue = named.get('quote_identifiers');
  const quoted = quoteValue ? quoteValue.sql.trim().toUpperCase() !== 'FALSE' : true;
  const table = lastPart(alias && alias.sql.trim() !== '' ? alias.sql : relation.sql);
  const columns = scope.ctx.columnsOf?.(relation.sql.trim());
  if (columns === undefined) {
    throw call.source.error(
      `@STAR: the columns of ${relation.sql.trim()} are not known; declare them or run upstream models first`,
      call.offset,
    );
  }
  const list = columns
    .map((c) => (typeof c === 'string' ? { name: c } : c))
    .filter((c) => !excluded.has(c.name.toLowerCase()));
  const allTyped = list.every((c) => c.type !== undefined && c.type.toUpperCase() !== 'UNKNOWN');
  const id = (name: string): string => (quoted ? quoteIdentifier(name, scope.dialect) : name);
  const items = list.map((c) => {
    const col = `${id(table)}.${id(c.name)}`;
    const expr = allTyped ? `CAST(${col} AS ${c.type ?? ''})` : col;
    return sqlValue(`${expr} AS ${id(`${prefix}${c.name}${suffix}`)}`);
  });
  return listValue(items);
}

/** Renders one source (a fragment, or a lambda body) within a scope. */
class Run {
  private out: string[] = [];
  private sig: boolean[] = [];

  constructor(
    private readonly scope: MacroScope,
    private readonly source: MacroSource,
    private readonly tokens: MacroToken[],
  ) {}

  private emit(text: string, significant: boolean): void {
    this.out.push(text);
    this.sig.push(significant);
  }

  private lastSignificant(): number {
    for (let k = this.out.length - 1; k >= 0; k--) {
      if (this.sig[k] && this.out[k] !== '') return k;
    }
    return -1;
  }

  /** Renders tokens [from, to) into SQL text. */
  render(from: number, to: number, bindings: Map<string, MacroValue> | undefined): string {
    const saved = this.out;
    const savedSig = this.sig;
    this.out = [];
    this.sig = [];
    try {
      this.renderInto(from, to, bindings);
      return this.out.join('');
    } finally {
      this.out = saved;
      this.sig = savedSig;
    }
  }

  /** Evaluates tokens [from, to) as one macro argument, keeping lists as lists. */
  value(
    from: number,
    to: number,
    bindings: Map<string, MacroValue> | undefined,
  ): MacroValue | null {
    const range = trimRange(this.tokens, from, to);
    if (!range) return sqlValue('');
    const [a, b] = range;
    const first = this.tokens[a];
    if (first?.kind === 'var') {
      const open = nextSignificant(this.tokens, a + 1, b + 1);
      if (isPunct(this.tokens[open], '(') && matchingClose(this.tokens, open, b + 1) === b) {
        const name = first.name.toUpperCase();
        if (this.scope.isFunction(name) && !(name in CLAUSE_MACROS)) {
          return this.call(a, open, b, bindings);
        }
      }
    }
    return sqlValue(this.render(a, b + 1, bindings));
  }

  private renderInto(
    from: number,
    to: number,
    bindings: Map<string, MacroValue> | undefined,
  ): void {
    const tokens = this.tokens;
    let i = from;
    while (i < to) {
      const t = tokens[i] as MacroToken;
      switch (t.kind) {
        case 'var': {
          const open = nextSignificant(tokens, i + 1, to);
          const name = t.name.toUpperCase();
          const spaced = open > i + 1;
          if (
            isPunct(tokens[open], '(') &&
            (this.scope.isFunction(name) ||
              !spaced ||
              this.scope.lookup(t.name, bindings) === undefined)
          ) {
            const close = matchingClose(tokens, open, to);
            if (close === -1)
              throw this.source.error(`@${t.name}( is missing its closing ')'`, t.start);
            if (name in CLAUSE_MACROS) {
              i = this.clause(i, open, close, to, bindings);
              continue;
            }
            const result = this.call(i, open, close, bindings);
            i = close + 1;
            if (result === null || result.sql === '') {
              i = this.dropDanglingComma(i, to);
            } else {
              this.emit(result.sql, true);
            }
            continue;
          }
          const nextTok = tokens[i + 1];
          if (
            nextTok !== undefined &&
            nextTok.start === t.end &&
            (nextTok.kind === 'brace' || nextTok.kind === 'var')
          ) {
            i = this.compound(i, to, bindings);
            continue;
          }
          const value = this.scope.lookup(t.name, bindings);
          if (value === undefined) throw this.scope.undefinedVariable(this.source, t.name, t.start);
          this.emit(value.sql, true);
          i += 1;
          continue;
        }
        case 'brace':
          i = this.compound(i, to, bindings);
          continue;
        case 'word': {
          const nextTok = tokens[i + 1];
          if (
            nextTok !== undefined &&
            nextTok.start === t.end &&
            (nextTok.kind === 'var' || nextTok.kind === 'brace')
          ) {
            i = this.compound(i, to, bindings);
            continue;
          }
          if (bindings !== undefined) {
            const bound = bindings.get(t.text.toLowerCase());
            const prev = this.lastSignificant();
            if (bound !== undefined && !(prev >= 0 && this.out[prev] === '.')) {
              this.emit(bound.sql, true);
              i += 1;
              continue;
            }
          }
          this.emit(t.text, true);
          i += 1;
          continue;
        }
        case 'qident': {
          if (t.text.includes('@')) {
            const q = t.text[0] ?? '"';
            const body = t.text.slice(1, t.text.endsWith(q) && t.text.length > 1 ? -1 : undefined);
            const replaced = substituteTemplate(body.split(q + q).join(q), (n) =>
              this.scope.lookup(n, bindings),
            );
            this.emit(`${q}${replaced.split(q).join(q + q)}${q}`, true);
          } else {
            this.emit(t.text, true);
          }
          i += 1;
          continue;
        }
        case 'template': {
          const replaced = substituteTemplate(t.name, (n) => this.scope.lookup(n, bindings));
          this.emit(sqlString(replaced), true);
          i += 1;
          continue;
        }
        case 'ws':
        case 'comment':
          this.emit(t.text, false);
          i += 1;
          continue;
        default:
          this.emit(t.text, true);
          i += 1;
      }
    }
  }

  /** An identifier glued from words and macro variables: `amount_@x`, `@{x}_total`. */
  private compound(i: number, to: number, bindings: Map<string, MacroValue> | undefined): number {
    const tokens = this.tokens;
    const start = tokens[i] as MacroToken;
    let raw = '';
    let j = i;
    let prevEnd = start.start;
    while (j < to) {
      const t = tokens[j] as MacroToken;
      if (t.start !== prevEnd) break;
      if (t.kind !== 'word' && t.kind !== 'var' && t.kind !== 'brace' && t.kind !== 'number') break;
      raw += t.text;
      prevEnd = t.end;
      j += 1;
    }
    const name = substituteTemplate(
      raw,
      (n) => this.scope.lookup(n, bindings),
      (missing, offset) => {
        throw this.scope.undefinedVariable(this.source, missing, start.start + offset);
      },
    );
    this.emit(identifierSql(name, this.scope.dialect, false), true);
    return j;
  }

  /** After a macro that rendered to nothing, removes the comma it leaves behind. */
  private dropDanglingComma(i: number, to: number): number {
    const k = nextSignificant(this.tokens, i, to);
    const next = this.tokens[k];
    const nextText = k >= to || next === undefined ? '' : next.text.toUpperCase();
    const prev = this.lastSignificant();
    const prevText = prev >= 0 ? (this.out[prev] ?? '').toUpperCase() : '';
    const closes =
      nextText === '' ||
      nextText === ',' ||
      nextText === ')' ||
      nextText === ']' ||
      nextText === ';' ||
      (next?.kind === 'word' && CLAUSE_KEYWORDS.has(nextText));
    if (prevText === ',' && closes) {
      for (let m = prev; m < this.out.length; m++) this.out[m] = '';
      return i;
    }
    if (
      nextText === ',' &&
      (prev < 0 ||
        prevText === '(' ||
        prevText === '[' ||
        prevText === 'SELECT' ||
        prevText === 'DISTINCT' ||
        prevText === 'BY')
    ) {
      return nextSignificant(this.tokens, k + 1, to);
    }
    return i;
  }

  /** `@WHERE(cond) ...` and friends: keeps the clause when the condition holds, drops it otherwise. */
  private clause(
    at: number,
    open: number,
    close: number,
    to: number,
    bindings: Map<string, MacroValue> | undefined,
  ): number {
    const tokens = this.tokens;
    const t = tokens[at] as MacroToken;
    const name = t.name.toUpperCase();
    const cond = this.render(open + 1, close, bindings);
    const call: Call = {
      name,
      args: [],
      kwargs: new Map(),
      offset: t.start,
      source: this.source,
      bindings,
    };
    const keep = truthy(this.scope.evaluate(cond, call, (tokens[open + 1] ?? t).start));
    if (keep) {
      this.emit(CLAUSE_MACROS[name] ?? name, true);
      return close + 1;
    }
    if (name === 'JOIN') {
      // Drop the join type words written before the macro (`LEFT OUTER @JOIN(...)`).
      for (let k = this.out.length - 1; k >= 0; k--) {
        if (!this.sig[k] || this.out[k] === '') continue;
        if (!JOIN_WORDS.has((this.out[k] ?? '').toUpperCase())) break;
        this.out[k] = '';
      }
    }
    const stops = CLAUSE_STOPS[name] ?? CLAUSE_STOPS.WHERE;
    let depth = 0;
    let k = close + 1;
    for (; k < to; k++) {
      const tok = tokens[k] as MacroToken;
      if (tok.kind === 'punct') {
        if (tok.text === '(' || tok.text === '[') depth += 1;
        else if (tok.text === ')' || tok.text === ']') {
          if (depth === 0) break;
          depth -= 1;
        } else if (tok.text === ';' && depth === 0) break;
      } else if (depth === 0) {
        if (tok.kind === 'word' && stops?.has(tok.text.toUpperCase())) break;
        if (tok.kind === 'var' && tok.name.toUpperCase() in CLAUSE_MACROS) break;
      }
    }
    return k;
  }

  /** Calls the macro function whose name token is at `at`, arguments between `open` and `close`. */
  call(
    at: number,
    open: number,
    close: number,
    bindings: Map<string, MacroValue> | undefined,
  ): MacroValue | null {
    const tokens = this.tokens;
    const nameTok = tokens[at] as MacroToken;
    const name = nameTok.name.toUpperCase();
    if (name === 'DEF') {
      this.define(nameTok, open, close, bindings);
      return null;
    }
    const args: Arg[] = [];
    const kwargs = new Map<string, Arg>();
    const parts = splitTopLevel(tokens, open + 1, close);
    const empty = parts.length === 1 && trimRange(tokens, open + 1, close) === undefined;
    if (!empty) {
      for (const [from, to] of parts) {
        const range = trimRange(tokens, from, to);
        if (!range)
          throw this.source.error(
            `@${nameTok.name}: empty argument`,
            (tokens[from] ?? nameTok).start,
          );
        let [a] = range;
        const b = range[1] + 1;
        let kw: string | undefined;
        const first = tokens[a] as MacroToken;
        const after = nextSignificant(tokens, a + 1, b);
        if (
          first.kind === 'word' &&
          (isPunct(tokens[after], ':=') || isPunct(tokens[after], '=>'))
        ) {
          kw = first.text.toLowerCase();
          a = nextSignificant(tokens, after + 1, b);
        } else if (kwargs.size > 0) {
          throw this.source.error(
            `@${nameTok.name}: a positional argument cannot follow a named one`,
            first.start,
          );
        }
        const arg = this.argument(a, b, bindings);
        if (arg === null) continue;
        if (kw !== undefined) kwargs.set(kw, arg);
        else args.push(arg);
      }
    }
    const call: Call = {
      name: nameTok.name,
      args,
      kwargs,
      offset: nameTok.start,
      source: this.source,
      bindings,
    };
    const builtin = BUILTINS[name];
    if (builtin) return builtin(this.scope, call);
    const user = this.scope.userMacro(name);
    if (user) {
      noKwargs(call);
      const values = args.map((arg, i) => requireValue(call, arg, `a value as argument ${i + 1}`));
      if (
        values.length !== user.params.length &&
        !(user.params.length > 1 && values.length === 1)
      ) {
        throw this.source.error(
          `@${nameTok.name} takes ${user.params.length} argument${user.params.length === 1 ? '' : 's'}, got ${values.length}`,
          nameTok.start,
        );
      }
      return this.scope.apply(user, values);
    }
    throw this.scope.unknownMacro(this.source, nameTok.name, nameTok.start);
  }

  /** One argument: a lambda (`x -> ...`, `(x, y) -> ...`) or a value. Null when it renders to nothing. */
  private argument(
    a: number,
    b: number,
    bindings: Map<string, MacroValue> | undefined,
  ): Arg | null {
    const tokens = this.tokens;
    const first = tokens[a] as MacroToken;
    let params: string[] | undefined;
    let arrow = -1;
    if (first.kind === 'word') {
      const k = nextSignificant(tokens, a + 1, b);
      if (isPunct(tokens[k], '->')) {
        params = [first.text.toLowerCase()];
        arrow = k;
      }
    } else if (isPunct(first, '(')) {
      const close = matchingClose(tokens, a, b);
      const k = close === -1 ? -1 : nextSignificant(tokens, close + 1, b);
      if (k !== -1 && isPunct(tokens[k], '->')) {
        params = [];
        for (const [from, to] of splitTopLevel(tokens, a + 1, close)) {
          const r = trimRange(tokens, from, to);
          const p = r ? tokens[r[0]] : undefined;
          if (!r || r[0] !== r[1] || p === undefined || p.kind !== 'word') {
            throw this.source.error(
              'lambda parameters must be plain names: (x, y) -> ...',
              first.start,
            );
          }
          params.push(p.text.toLowerCase());
        }
        arrow = k;
      }
    }
    if (params !== undefined) {
      return {
        kind: 'lambda',
        offset: first.start,
        lambda: { params, source: this.source, tokens, from: arrow + 1, to: b, bindings },
      };
    }
    const value = this.value(a, b, bindings);
    if (value === null) return null;
    return { kind: 'value', value, offset: first.start };
  }

  private define(
    nameTok: MacroToken,
    open: number,
    close: number,
    bindings: Map<string, MacroValue> | undefined,
  ): void {
    const tokens = this.tokens;
    const parts = splitTopLevel(tokens, open + 1, close);
    if (parts.length !== 2) {
      throw this.source.error('@DEF takes 2 arguments: @DEF(name, value)', nameTok.start);
    }
    const [namePart, valuePart] = parts as [[number, number], [number, number]];
    const nr = trimRange(tokens, namePart[0], namePart[1]);
    const nameToken = nr && nr[0] === nr[1] ? tokens[nr[0]] : undefined;
    if (nameToken === undefined || !['word', 'string', 'qident'].includes(nameToken.kind)) {
      throw this.source.error(
        '@DEF: the first argument must be a name, as in @DEF(size, 1)',
        nameTok.start,
      );
    }
    const name = nameToken.kind === 'word' ? nameToken.text : sqlValue(nameToken.text).text;
    const vr = trimRange(tokens, valuePart[0], valuePart[1]);
    if (!vr) throw this.source.error(`@DEF(${name}, ...) needs a value`, nameTok.start);
    const arg = this.argument(vr[0], vr[1] + 1, bindings);
    if (arg === null) this.scope.defineValue(name, sqlValue('NULL'));
    else if (arg.kind === 'lambda') this.scope.defineMacro(name, arg.lambda);
    else this.scope.defineValue(name, arg.value);
  }
}

const SELECT_TAIL = [
  'GROUP',
  'HAVING',
  'QUALIFY',
  'WINDOW',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'FETCH',
  'UNION',
  'INTERSECT',
  'EXCEPT',
];
const CLAUSE_STOPS: Record<string, Set<string>> = {
  WITH: new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE']),
  JOIN: new Set([
    'JOIN',
    'LEFT',
    'RIGHT',
    'FULL',
    'INNER',
    'CROSS',
    'NATURAL',
    'WHERE',
    ...SELECT_TAIL,
  ]),
  WHERE: new Set(SELECT_TAIL),
  GROUP_BY: new Set(SELECT_TAIL.filter((w) => w !== 'GROUP')),
  HAVING: new Set(SELECT_TAIL.filter((w) => w !== 'GROUP' && w !== 'HAVING')),
  ORDER_BY: new Set(['LIMIT', 'OFFSET', 'FETCH', 'UNION', 'INTERSECT', 'EXCEPT']),
  LIMIT: new Set(['OFFSET', 'FETCH', 'UNION', 'INTERSECT', 'EXCEPT']),
};

/**
 * The macro state of one render: predefined variables, `@DEF` definitions
 * made so far, and the project variables. Build one per model and interval;
 * definitions made by pre-statements are visible to the query and to the
 * post-statements.
 */
export class MacroScope {
  readonly dialect: string;
  private readonly lex: LexOptions;
  private readonly locals = new Map<string, MacroValue>();
  private readonly variables = new Map<string, MacroValue>();
  private readonly blueprint = new Map<string, MacroValue>();
  private readonly macros = new Map<string, Lambda>();
  private readonly predefined = new WeakSet<SqlFragment>();

  /**
   * @param ctx what the render depends on
   * @param options.definitions statements that may hold `@DEF(...)`: like SQLMesh,
   *   every definition among a model's pre-statements, post-statements and
   *   on-virtual-update statements is made before anything is rendered
   * @param options.jinja the Jinja stage for fragments written in Jinja
   */
  constructor(
    readonly ctx: MacroContext,
    private readonly options: { definitions?: SqlFragment[]; jinja?: JinjaStage } = {},
  ) {
    this.dialect = ctx.dialect;
    this.lex = lexOptionsForDialect(ctx.dialect);
    const temporal = temporalVariables({
      start: ctx.start,
      end: ctx.end,
      executionTime: ctx.executionTime,
      dialect: ctx.dialect,
    });
    for (const v of Object.values(temporal)) this.locals.set(v.name, { sql: v.sql, text: v.text });
    this.locals.set('runtime_stage', jsValue(ctx.runtimeStage ?? 'loading'));
    if (ctx.thisModel !== undefined) this.locals.set('this_model', sqlValue(ctx.thisModel));
    if (ctx.modelKindName !== undefined)
      this.locals.set('model_kind_name', jsValue(ctx.modelKindName));
    for (const [k, v] of Object.entries(ctx.extraVariables ?? {}))
      this.locals.set(k.toLowerCase(), jsValue(v));
    for (const [k, v] of Object.entries(ctx.variables))
      this.variables.set(k.toLowerCase(), jsValue(v));
    if (ctx.gateway !== undefined) this.variables.set('gateway', jsValue(ctx.gateway));
    for (const [k, v] of Object.entries(ctx.blueprintVariables ?? {}))
      this.blueprint.set(k.toLowerCase(), sqlValue(v));
    for (const fragment of options.definitions ?? []) {
      if (this.isDefinition(fragment)) {
        this.renderStatement(fragment);
        this.predefined.add(fragment);
      }
    }
  }

  private tokensOf(
    fragment: SqlFragment,
    text: string,
  ): { source: MacroSource; tokens: MacroToken[] } {
    const source = new MacroSource(text, fragment.location);
    return { source, tokens: lexMacroSql(source, this.lex) };
  }

  private textOf(fragment: SqlFragment): string {
    return fragment.jinja && this.options.jinja
      ? this.options.jinja.render(fragment, this.ctx)
      : fragment.sql;
  }

  /** True when the fragment is a single `@DEF(...)`. */
  isDefinition(fragment: SqlFragment): boolean {
    if (fragment.jinja || !fragment.sql.includes('@')) return false;
    const { tokens } = this.tokensOf(fragment, fragment.sql);
    const r = trimRange(tokens, 0, tokens.length);
    if (!r) return false;
    const first = tokens[r[0]];
    if (first?.kind !== 'var' || first.name.toUpperCase() !== 'DEF') return false;
    const open = nextSignificant(tokens, r[0] + 1, r[1] + 1);
    return isPunct(tokens[open], '(') && matchingClose(tokens, open, r[1] + 1) === r[1];
  }

  /**
   * Renders a pre- or post-statement. Returns null when nothing is left to
   * run: a `@DEF` statement, or an `@IF` whose condition is false.
   */
  renderStatement(fragment: SqlFragment): string | null {
    if (this.predefined.has(fragment)) return null;
    const text = this.render(fragment);
    const check = lexMacroSql(new MacroSource(text, fragment.location), this.lex);
    return check.every((t) => isTrivia(t)) ? null : text;
  }

  /** Renders the model's query. */
  renderQuery(fragment: SqlFragment): string {
    return this.render(fragment);
  }

  /** Renders any fragment: Jinja first when it is written in Jinja, then macros. */
  render(fragment: SqlFragment): string {
    const text = this.textOf(fragment);
    if (!text.includes('@')) return text;
    const { source, tokens } = this.tokensOf(fragment, text);
    return new Run(this, source, tokens).render(0, tokens.length, undefined);
  }

  /** Renders one expression (an audit argument, a property value) at `location`. */
  renderExpression(text: string, location: SourceLocation): string {
    if (!text.includes('@')) return text;
    const source = new MacroSource(text, location);
    const tokens = lexMacroSql(source, this.lex);
    return new Run(this, source, tokens).render(0, tokens.length, undefined);
  }

  /** Looks a variable up: lambda arguments, then definitions and predefined variables, then blueprint and project variables. */
  lookup(name: string, bindings?: Map<string, MacroValue>): MacroValue | undefined {
    const key = name.toLowerCase();
    return (
      bindings?.get(key) ??
      this.locals.get(key) ??
      this.blueprint.get(key) ??
      this.variables.get(key)
    );
  }

  /** A project (or gateway) variable, as `@VAR` reads it. */
  variable(name: string): MacroValue | undefined {
    return this.variables.get(name.toLowerCase());
  }

  /** A blueprint variable, as `@BLUEPRINT_VAR` reads it. */
  blueprintVariable(name: string): MacroValue | undefined {
    return this.blueprint.get(name.toLowerCase());
  }

  /** True when `@NAME(...)` names a built-in or a `@DEF` lambda. */
  isFunction(upperName: string): boolean {
    return (
      upperName === 'DEF' ||
      upperName in BUILTINS ||
      upperName in CLAUSE_MACROS ||
      this.macros.has(upperName)
    );
  }

  userMacro(upperName: string): Lambda | undefined {
    return this.macros.get(upperName);
  }

  defineValue(name: string, value: MacroValue): void {
    this.locals.set(name.toLowerCase(), value);
  }

  defineMacro(name: string, lambda: Lambda): void {
    this.macros.set(name.toUpperCase(), lambda);
  }

  /** Applies a lambda to argument values; several parameters take one argument each. */
  apply(fn: Lambda, args: MacroValue[]): MacroValue {
    let values = args;
    if (fn.params.length > 1 && args.length === 1) values = args[0]?.items ?? args;
    const bindings = new Map(fn.bindings ?? []);
    fn.params.forEach((p, i) => {
      const v = values[i];
      if (v !== undefined) bindings.set(p, v);
    });
    const run = new Run(this, fn.source, fn.tokens);
    const sql = run.render(fn.from, fn.to, bindings).trim();
    return sqlValue(sql);
  }

  /** Evaluates a rendered condition; errors point at `offset` in the call's source. */
  evaluate(sql: string, call: Pick<Call, 'name' | 'source'>, offset: number): EvalValue {
    try {
      return evaluateSql(sql);
    } catch (e) {
      if (e instanceof EvalError) {
        throw call.source.error(
          `@${call.name}: cannot evaluate '${sql.trim()}': ${e.message}`,
          offset,
        );
      }
      throw e;
    }
  }

  undefinedVariable(source: MacroSource, name: string, offset: number): ProjectError {
    return source.error(
      `undefined macro variable @${name}: define it with @DEF(${name}, ...) or under 'variables' in the project config`,
      offset,
    );
  }

  unknownMacro(source: MacroSource, name: string, offset: number): ProjectError {
    return source.error(
      `unknown macro function @${name}(): use a SQLMesh built-in (@IF, @EACH, @VAR, ...) or define it with @DEF(${name}, x -> ...)`,
      offset,
    );
  }
}

/**
 * Renders a single expression containing macros, such as an audit argument
 * (`threshold := @x`), with a fresh scope.
 */
export function renderMacroExpression(
  text: string,
  ctx: MacroContext,
  location: SourceLocation,
): string {
  if (!text.includes('@')) return text;
  return new MacroScope(ctx).renderExpression(text, location);
}
