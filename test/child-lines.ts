import type { Readable } from 'node:stream';

/** Appends each complete line a child process writes to `stream` to `lines` (a partial last line waits for its newline). */
export function collectLines(stream: Readable, lines: string[]): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
}
