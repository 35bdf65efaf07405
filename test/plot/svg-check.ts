import assert from 'node:assert/strict';

// A minimal XML well-formedness check for the plot tests: every tag closed in order, attributes
// quoted, no stray '<' or '&' in text, and exactly one root <svg>.

export interface Element {
  name: string;
  attrs: Record<string, string>;
}

const unescape = (v: string) => v.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

export function parseSvg(svg: string): Element[] {
  const elements: Element[] = [];
  const stack: string[] = [];
  let roots = 0;
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < svg.length) {
    const lt = svg.indexOf('<', i);
    const textPart = svg.slice(i, lt === -1 ? svg.length : lt);
    assert.doesNotMatch(textPart, /&(?!(amp|lt|gt|quot|#\d+);)/, `unescaped & in text near ${i}`);
    assert.ok(!textPart.includes('>'), `stray > in text near ${i}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(svg);
    assert.ok(m, `malformed tag at ${lt}: ${svg.slice(lt, lt + 60)}`);
    const [whole, closing, name, attrText, selfClosing] = m;
    if (closing) {
      assert.equal(stack.pop(), name, `closing </${name}> at ${lt} does not match`);
    } else {
      if (stack.length === 0) roots++;
      const attrs: Record<string, string> = {};
      for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
        assert.ok(!(a[1]! in attrs), `duplicate attribute ${a[1]} on <${name}>`);
        assert.doesNotMatch(a[2]!, /&(?!(amp|lt|gt|quot|#\d+);)/, `unescaped & in attribute ${a[1]}`);
        attrs[a[1]!] = unescape(a[2]!);
      }
      elements.push({ name: name!, attrs });
      if (!selfClosing) stack.push(name!);
    }
    i = lt + whole.length;
  }
  assert.deepEqual(stack, [], 'unclosed tags');
  assert.equal(roots, 1, 'one root element');
  assert.equal(elements[0]?.name, 'svg');
  return elements;
}

export const withClass = (elements: Element[], cls: string) => elements.filter((e) => (e.attrs.class ?? '').split(' ').includes(cls));
