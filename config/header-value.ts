/**
 * Envoy's custom header value syntax, as Istio checks it before sending it: literal text, `%%` for a
 * percent sign, and `%VARIABLE%` or `%VARIABLE(args)%` substitutions, where args are either plain
 * text or a JSON array of strings (`%REQ(["x-a","x-b"])%`). Control characters other than tab are
 * never allowed.
 */

/** ASCII control characters but tab (what Envoy's header validation refuses). */
const CONTROL = /[\u0000-\u0008\u000A-\u001F\u007F]/;

type State =
  | 'literal'
  | 'name'
  | 'expect-array'
  | 'expect-string'
  | 'string'
  | 'expect-delimiter'
  | 'expect-args-end'
  | 'expect-variable-end';

/**
 * Checks a header value of `headers.request.set` / `add` (and response) as Envoy will read it.
 * @returns why it is refused, or undefined when it is valid (e.g. `100%%`, `%HOSTNAME%`,
 * `prefix %REQ(x-a)% suffix`; not `abc%123` or `%START_TIME%%`).
 */
export function headerValueProblem(value: string): string | undefined {
  if (CONTROL.test(value)) return 'control characters are not allowed';
  let state: State = 'literal';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    switch (state) {
      case 'literal':
        if (ch !== '%') break;
        if (i + 1 === value.length) return 'un-escaped % (write %% for a percent sign)';
        if (value[i + 1] === '%') i++;
        else state = 'name';
        break;
      case 'name':
        if (ch === '%') state = 'literal';
        else if (ch === '(') state = 'expect-array';
        break;
      case 'expect-array':
        if (ch === '[') state = 'expect-string';
        else if (ch !== ' ') state = 'string';
        break;
      case 'expect-delimiter':
        if (ch === ',') state = 'expect-string';
        else if (ch === ']') state = 'expect-args-end';
        else if (ch !== ' ') return `expected ",", "]" or a space in the arguments of a %VARIABLE(...)%`;
        break;
      case 'expect-string':
        if (ch === '"') state = 'string';
        else if (ch !== ' ') return 'expected a quoted string in the arguments of a %VARIABLE([...])%';
        break;
      case 'string':
        if (ch === '\\') {
          if (i + 1 === value.length) return 'un-terminated backslash in a string argument';
          i++;
        } else if (ch === ')') state = 'expect-variable-end';
        else if (ch === '"') state = 'expect-delimiter';
        break;
      case 'expect-args-end':
        if (ch === ')') state = 'expect-variable-end';
        else if (ch !== ' ') return 'expected ")" after the arguments of a %VARIABLE(...)%';
        break;
      case 'expect-variable-end':
        if (ch === '%') state = 'literal';
        else if (ch !== ' ') return 'expected "%" to close a %VARIABLE(...)%';
        break;
    }
  }
  return state === 'literal'
    ? undefined
    : 'un-terminated %VARIABLE% expression (write %% for a percent sign)';
}
