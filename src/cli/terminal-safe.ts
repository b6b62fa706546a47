/**
 * Text a terminal shows as it is: its own module, without cli-table3, so that the command
 * line's error path (src/cli/main.ts) loads nothing `--help` does not (tests/package/
 * cli-startup.test.ts).
 * Threads: pure.
 */
/**
 * Characters a terminal acts on instead of showing: C0 and C1 controls and DEL (ESC starts
 * the sequences that recolour, move the cursor or clear the screen; CR overwrites the line;
 * a newline splits a table row), line and paragraph separators, and the bidirectional marks,
 * embeddings, overrides and isolates that reorder what the reader sees ("Trojan Source").
 * Tab is one of them: it moves the cursor past the cell's border.
 */
const TERMINAL_CONTROLS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Text as a terminal can show it: each control character (TERMINAL_CONTROLS) written as an
 * escape, `\n`, `\r`, `\t`, `\xNN` or `\u{NNNN}`. Tables are for people and never act on
 * the terminal; `--json` prints the exact text.
 */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) => {
    const code = c.codePointAt(0)!;
    return SHORT_ESCAPES[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`);
  });
}
