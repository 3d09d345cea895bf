/** Lines of a byte stream, with their numbers (for the text pipe formats). */
import { StringDecoder } from 'node:string_decoder';

export async function* linesOf(input: AsyncIterable<Uint8Array | string>): AsyncGenerator<{ line: number; text: string }> {
  const decoder = new StringDecoder('utf8');
  let tail = '';
  let n = 0;
  for await (const chunk of input) {
    const text = tail + (typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk)));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      n++;
      const l = text.slice(start, text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      start = nl + 1;
      if (l.trim() !== '') yield { line: n, text: l };
    }
    tail = text.slice(start);
  }
  tail += decoder.end();
  if (tail.trim() !== '') yield { line: n + 1, text: tail };
}
