// Text that came from outside, as socktool prints it.

/**
 * Text from outside (an address, a peer's name, an error's text) made safe for one line of a terminal: control
 * characters, DEL, C1 controls and Unicode line breaks are shown escaped (`\n`, `\x1b`, `\u2028`); everything
 * else, backslashes included, is left as it is, so that ordinary paths print unchanged.
 */
export function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}
