import { parseDocument, isMap, isSeq, type Node as YamlNode, LineCounter } from 'yaml';
import { ProjectError, type SourceLocation } from '../errors.js';
import type { ColumnDefinition, ModelDefinition } from '../model-types.js';

/**
 * Reads external model declarations (external_models.yaml, the older
 * schema.yaml, or external_models/*.yaml): a list of tables the project reads
 * but does not build, with their columns.
 *
 * ```yaml
 * - name: raw.demographics
 *   description: Customer demographics
 *   gateway: prod          # optional: only for this gateway
 *   columns:
 *     customer_id: int
 *     zip: text
 * ```
 */
export function parseExternalModels(
  text: string,
  path: string,
  options: { dialect: string; gateway?: string },
): ModelDefinition[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number | undefined): SourceLocation => {
    const pos = lines.linePos(offset ?? 0);
    return { file: path, line: pos.line, column: pos.col };
  };
  const firstError = doc.errors[0];
  if (firstError) {
    throw new ProjectError(
      `${firstError.message.split('\n')[0]}; fix the YAML syntax`,
      at(firstError.pos[0]),
    );
  }
  const root = doc.contents;
  if (root === null || root === undefined) return [];
  if (!isSeq(root)) {
    throw new ProjectError(
      'expected a list of external models (`- name: schema.table`)',
      at(root.range?.[0]),
    );
  }
  const out: ModelDefinition[] = [];
  const seen = new Set<string>();
  for (const item of root.items) {
    const node = item as YamlNode;
    const loc = at(node.range?.[0]);
    if (!isMap(node))
      throw new ProjectError('each external model must be a mapping with a name', loc);
    const value = node.toJSON() as Record<string, unknown>;
    for (const key of Object.keys(value)) {
      if (
        ![
          'name',
          'description',
          'gateway',
          'columns',
          'dialect',
          'owner',
          'tags',
          'column_descriptions',
        ].includes(key)
      ) {
        throw new ProjectError(`unknown key '${key}' in an external model; remove it`, loc);
      }
    }
    const name = value.name;
    if (typeof name !== 'string' || name.trim() === '') {
      throw new ProjectError('external model without a name; add `name: schema.table`', loc);
    }
    if (seen.has(name.toLowerCase())) {
      throw new ProjectError(`external model ${name} is declared twice; keep one`, loc);
    }
    seen.add(name.toLowerCase());
    const gateway = value.gateway;
    if (gateway !== undefined && typeof gateway !== 'string') {
      throw new ProjectError(`external model ${name}: gateway must be a string`, loc);
    }
    if (gateway && options.gateway && gateway.toLowerCase() !== options.gateway.toLowerCase())
      continue;
    const columns: ColumnDefinition[] = [];
    if (value.columns !== undefined && value.columns !== null) {
      if (typeof value.columns !== 'object' || Array.isArray(value.columns)) {
        throw new ProjectError(
          `external model ${name}: columns must map column names to types`,
          loc,
        );
      }
      for (const [col, type] of Object.entries(value.columns as Record<string, unknown>)) {
        if (typeof type !== 'string' || type.trim() === '') {
          throw new ProjectError(
            `external model ${name}: column ${col} needs a type such as INT or TEXT`,
            loc,
          );
        }
        columns.push({ name: col, type });
      }
    }
    const description = typeof value.description === 'string' ? value.description : undefined;
    const owner = typeof value.owner === 'string' ? value.owner : undefined;
    const dialect = typeof value.dialect === 'string' ? value.dialect : options.dialect;
    out.push({
      name,
      kind: { name: 'EXTERNAL' },
      dialect,
      cron: '@daily',
      ...(description !== undefined ? { description } : {}),
      ...(owner !== undefined ? { owner } : {}),
      ...(gateway ? { gateway } : {}),
      tags: Array.isArray(value.tags) ? value.tags.map(String) : [],
      grains: [],
      references: [],
      ...(columns.length > 0 ? { columns } : {}),
      columnDescriptions:
        value.column_descriptions && typeof value.column_descriptions === 'object'
          ? Object.fromEntries(
              Object.entries(value.column_descriptions as Record<string, unknown>).map(([k, v]) => [
                k,
                String(v),
              ]),
            )
          : {},
      audits: [],
      partitionedBy: [],
      clusteredBy: [],
      physicalProperties: {},
      virtualProperties: {},
      sessionProperties: {},
      allowPartials: false,
      enabled: true,
      extraProperties: {},
      preStatements: [],
      postStatements: [],
      onVirtualUpdate: [],
      inlineAudits: [],
      path,
      location: loc,
    });
  }
  return out;
}
