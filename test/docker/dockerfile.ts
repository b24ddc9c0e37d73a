// Reading the Dockerfile and .dockerignore without Docker: enough of their syntax to check what
// the image will contain and run (no Docker engine runs on the build machines).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const repoPath = (path: string): string => fileURLToPath(new URL(path, new URL('../../', import.meta.url)));

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY … */
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  /** Leading --flag=value options (COPY --chown, HEALTHCHECK --timeout …). */
  flags: Record<string, string>;
  /** The rest after the flags. */
  rest: string;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line)) // comments (also between continuation lines)
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const flags: Record<string, string> = {};
    let rest = args;
    for (let m; (m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)); rest = rest.slice(m[0].length)) flags[m[1]!] = m[2] ?? '';
    const instruction = { keyword: keyword.toUpperCase(), args, flags, rest };
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = rest.split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    }
    if (instruction.keyword !== 'ARG' || stages.length) stages.at(-1)?.instructions.push(instruction);
  }
  return stages;
}

export const readDockerfile = (): Stage[] => parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));

/** A JSON array (exec form), or undefined for the shell form. */
export function execForm(text: string): string[] | undefined {
  if (!text.trim().startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(text);
  return Array.isArray(parsed) && parsed.every((s) => typeof s === 'string') ? parsed : undefined;
}

/**
 * Whether .dockerignore keeps `path` out of the build context: a pattern matches the path or
 * one of its parent folders, `*` stays within a segment, `**` crosses them, and the last
 * matching pattern wins (`!` re-includes). Docker's rules, minus character classes.
 */
export function dockerIgnores(patterns: readonly string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const source = pattern
      .split('**')
      .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*').replaceAll('?', '[^/]'))
      .join('.*');
    if (new RegExp(`^${source}(/.*)?$`).test(path)) ignored = !negate;
  }
  return ignored;
}

export const readDockerignore = (): string[] =>
  readFileSync(repoPath('.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
