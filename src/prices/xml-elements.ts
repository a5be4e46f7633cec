/**
 * A reader for machine-written XML documents such as ENTSO-E's: elements, their text, nothing
 * else (attributes, comments, processing instructions and the declaration are skipped; namespace
 * prefixes are dropped, so `<ns:Point>` is `Point`). Not a general XML parser: no DTDs, no
 * entities beyond the five predefined ones, no CDATA — a document that uses them is an error, not
 * a silent misreading.
 */

export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

export class XmlFormatError extends Error {
  override name = 'XmlFormatError';
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The document's root element. */
export function readXml(text: string, where: string): XmlElement {
  const root: XmlElement = { name: '', children: [], text: '' };
  const open: XmlElement[] = [root];
  const token = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[|<!|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^>]*?)?)(\/?)>|([^<]+)/gy;
  let match: RegExpExecArray | null;
  while (token.lastIndex < text.length && (match = token.exec(text)) !== null) {
    const [whole, closing, qualified, , selfClosing, chars] = match;
    if (chars !== undefined) {
      open.at(-1)!.text += chars.replace(/&(\w+);/g, (entity, name: string) => {
        const value = ENTITIES[name];
        if (value === undefined) throw new XmlFormatError(`${where}: unknown entity ${entity}`);
        return value;
      });
      continue;
    }
    if (whole === '<![CDATA[' || whole === '<!') throw new XmlFormatError(`${where}: CDATA and declarations are not expected in this document`);
    if (qualified === undefined) continue; // a comment or a processing instruction
    const name = qualified.slice(qualified.indexOf(':') + 1);
    if (closing) {
      const element = open.pop();
      if (element === undefined || element === root || element.name !== name) throw new XmlFormatError(`${where}: </${qualified}> does not close <${element?.name ?? ''}>`);
      element.text = element.text.trim();
      continue;
    }
    const element: XmlElement = { name, children: [], text: '' };
    open.at(-1)!.children.push(element);
    if (!selfClosing) open.push(element);
  }
  if (token.lastIndex < text.length || open.length !== 1) throw new XmlFormatError(`${where}: not well-formed XML${open.length > 1 ? ` (<${open.at(-1)!.name}> is not closed)` : ''}`);
  const [document] = root.children;
  if (!document || root.children.length !== 1) throw new XmlFormatError(`${where}: expected one root element, found ${root.children.length}`);
  return document;
}

/** The children of `element` named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** The text of the one child named `name`; throws naming the path when there is none. */
export function childText(element: XmlElement, name: string, where: string): string {
  const child = element.children.find((c) => c.name === name);
  if (!child) throw new XmlFormatError(`${where}: <${element.name}> has no <${name}>`);
  return child.text;
}
