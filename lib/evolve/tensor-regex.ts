/**
 * User-supplied regular expressions over tensor names (evolve `include` / `exclude`) are run by
 * a linear-time engine (re2js, a pure-JS port of RE2): no pattern can hang a run, whatever the
 * names (`(a+)+$` against a long name takes time linear in the name, not exponential).
 * Matching is a search anywhere in the name, like JavaScript's `RegExp.prototype.test` without
 * flags. RE2 syntax is JavaScript's minus backreferences and lookaround; JavaScript's `\uXXXX`
 * and `\u{X}` escapes are accepted too. This module imports nothing from the rest of the
 * package, so config validators and the population can both use it.
 */
import { RE2JS } from 're2js';

export interface NameMatcher {
  readonly source: string;
  test(name: string): boolean;
}

/** Thrown by {@link compileNameRegex}; callers turn it into a ConfigError naming the field. */
export class NameRegexError extends Error {
  override readonly name = 'NameRegexError';
  readonly pattern: string;
  readonly reason: string;
  constructor(pattern: string, reason: string) {
    super(`pattern ${JSON.stringify(pattern)} ${reason}`);
    this.pattern = pattern;
    this.reason = reason;
  }
}

const WHY = 'tensor-name patterns run on a linear-time engine (RE2 syntax, so that no pattern can hang a run), which has no backreferences or lookaround';

/** JavaScript-only syntax, found outside character classes, with an explanation; undefined when none. */
function unsupportedSyntax(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1];
      if (!inClass && next !== undefined && next >= '1' && next <= '9') return `uses a backreference (\\${next}); ${WHY}`;
      if (!inClass && next === 'k' && pattern[i + 2] === '<') return `uses a named backreference (\\k<...>); ${WHY}`;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === ']') i++;  // `[]...]`: a literal ] first in the class (RE2)
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      const kind = rest.startsWith('=') ? 'a lookahead (?=...)' : rest.startsWith('!') ? 'a negative lookahead (?!...)' : rest === '<=' ? 'a lookbehind (?<=...)' : rest === '<!' ? 'a negative lookbehind (?<!...)' : undefined;
      if (kind !== undefined) return `uses ${kind}; ${WHY}: match what to keep with include and what to drop with exclude instead`;
    }
  }
  return undefined;
}

/** JavaScript's `\uXXXX` and `\u{X...}` escapes in RE2's spelling `\x{...}`; everything else unchanged. */
function translateUnicodeEscapes(pattern: string): string {
  if (!pattern.includes('\\u')) return pattern;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = pattern[i + 1];
    if (next === 'u') {
      const four = /^[0-9a-fA-F]{4}/.exec(pattern.slice(i + 2, i + 6));
      const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(pattern.slice(i + 2, i + 10));
      if (four !== null) {
        out += `\\x{${four[0]}}`;
        i += 5;
        continue;
      }
      if (braced !== null) {
        out += `\\x{${braced[1]}}`;
        i += 1 + braced[0].length;
        continue;
      }
    }
    out += c + (next ?? '');
    i++;
  }
  return out;
}

/** Compiles a tensor-name pattern for linear-time matching; throws NameRegexError with the reason. */
export function compileNameRegex(pattern: string): NameMatcher {
  if (typeof pattern !== 'string') throw new NameRegexError(String(pattern), 'is not a string');
  const unsupported = unsupportedSyntax(pattern);
  if (unsupported !== undefined) throw new NameRegexError(pattern, unsupported);
  let re: RE2JS;
  try {
    re = RE2JS.compile(translateUnicodeEscapes(pattern));
  } catch (err) {
    throw new NameRegexError(pattern, `is not a valid regular expression (RE2 syntax): ${(err as Error).message}`);
  }
  return { source: pattern, test: (name: string) => re.test(name) };
}

/** Why `pattern` cannot be used as a tensor-name pattern, or undefined when it can (for validators). */
export function nameRegexProblem(pattern: string): string | undefined {
  try {
    compileNameRegex(pattern);
    return undefined;
  } catch (err) {
    return err instanceof NameRegexError ? err.reason : (err as Error).message;
  }
}
