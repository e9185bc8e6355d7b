//! A small, strict XML reader for the ISAPI request bodies the camera accepts (a root
//! element with leaf children). It refuses DTDs (no entity expansion, so no XXE or
//! billion-laughs), caps depth and element count, and never panics on hostile bytes.

const MAX_DEPTH: usize = 16;
const MAX_ELEMENTS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// Local name: a namespace prefix (`isapi:User`) is dropped.
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.children
            .iter()
            .find(|child| child.name == name)
            .map(|child| child.text.trim())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML at byte {offset}: {reason}")]
pub(crate) struct XmlError {
    pub offset: usize,
    pub reason: &'static str,
}

pub(crate) fn parse(input: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(input).map_err(|e| XmlError {
        offset: e.valid_up_to(),
        reason: "not UTF-8",
    })?;
    let mut parser = Parser {
        text,
        pos: 0,
        elements: 0,
    };
    parser.skip_bom();
    parser.skip_misc()?;
    let root = parser.element(0)?;
    parser.skip_misc()?;
    if parser.pos != text.len() {
        return Err(parser.error("content after the root element"));
    }
    Ok(root)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    elements: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> XmlError {
        XmlError {
            offset: self.pos,
            reason,
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_bom(&mut self) {
        if self.rest().starts_with('\u{feff}') {
            self.pos += '\u{feff}'.len_utf8();
        }
    }

    fn skip_whitespace(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\r', '\n']);
        self.pos = self.text.len() - trimmed.len();
    }

    fn skip_past(&mut self, terminator: &str, reason: &'static str) -> Result<(), XmlError> {
        match self.rest().find(terminator) {
            Some(at) => {
                self.pos += at + terminator.len();
                Ok(())
            }
            None => Err(self.error(reason)),
        }
    }

    /// Whitespace, comments and processing instructions (the `<?xml …?>` declaration)
    /// around the root element.
    fn skip_misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("<?") {
                self.skip_past("?>", "unterminated processing instruction")?;
            } else if rest.starts_with("<!--") {
                self.skip_past("-->", "unterminated comment")?;
            } else if rest.starts_with("<!") {
                return Err(self.error("DTDs are not accepted"));
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<&str, XmlError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(rest.len());
        let starts_well = rest.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
        if len == 0 || !starts_well {
            return Err(self.error("expected a name"));
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.text[start..self.pos])
    }

    fn expect(&mut self, literal: &str, reason: &'static str) -> Result<(), XmlError> {
        if self.rest().starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn element(&mut self, depth: usize) -> Result<Element, XmlError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("elements nested too deep"));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.error("too many elements"));
        }
        self.expect("<", "expected an element")?;
        let qualified = self.name()?.to_string();
        // Attributes (xmlns, version) are checked for syntax and otherwise ignored.
        loop {
            let before = self.pos;
            self.skip_whitespace();
            if self.rest().starts_with("/>") {
                self.pos += 2;
                return Ok(Element {
                    name: local_name(&qualified),
                    text: String::new(),
                    children: Vec::new(),
                });
            }
            if self.rest().starts_with('>') {
                self.pos += 1;
                break;
            }
            if self.pos == before {
                return Err(self.error("expected whitespace before an attribute"));
            }
            self.name()?;
            self.skip_whitespace();
            self.expect("=", "expected '=' after an attribute name")?;
            self.skip_whitespace();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.error("attribute value must be quoted")),
            };
            self.pos += 1;
            let end = self
                .rest()
                .find(quote)
                .ok_or_else(|| self.error("unterminated attribute value"))?;
            let value_start = self.pos;
            self.pos += end + 1;
            if self.text[value_start..value_start + end].contains('<') {
                return Err(self.error("'<' in an attribute value"));
            }
        }

        let mut text = String::new();
        let mut children = Vec::new();
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(self.error("unterminated element"));
            }
            if rest.starts_with("</") {
                self.pos += 2;
                let closing = self.name()?;
                if closing != qualified {
                    return Err(self.error("mismatched closing tag"));
                }
                self.skip_whitespace();
                self.expect(">", "expected '>' after a closing tag")?;
                return Ok(Element {
                    name: local_name(&qualified),
                    text,
                    children,
                });
            }
            if rest.starts_with("<!--") {
                self.skip_past("-->", "unterminated comment")?;
            } else if rest.starts_with("<![CDATA[") {
                self.pos += "<![CDATA[".len();
                let end = self
                    .rest()
                    .find("]]>")
                    .ok_or_else(|| self.error("unterminated CDATA section"))?;
                text.push_str(&self.rest()[..end]);
                self.pos += end + 3;
            } else if rest.starts_with("<!") || rest.starts_with("<?") {
                return Err(self.error("unexpected markup declaration"));
            } else if rest.starts_with('<') {
                children.push(self.element(depth + 1)?);
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let raw = &rest[..end];
                let start = self.pos;
                text.push_str(&unescape(raw).map_err(|at| XmlError {
                    offset: start + at,
                    reason: "bad character reference",
                })?);
                self.pos += end;
            }
        }
    }
}

fn local_name(qualified: &str) -> String {
    qualified
        .rsplit_once(':')
        .map_or(qualified, |(_, local)| local)
        .to_string()
}

/// Decodes the five predefined entities and numeric references; anything else is an error
/// (carrying the offset of the bad `&`).
fn unescape(raw: &str) -> Result<String, usize> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .filter(|&s| s <= 10)
            .ok_or(raw.len() - rest.len() + amp)?;
        let entity = &after[..semi];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or(raw.len() - rest.len() + amp)?
            }
        };
        out.push(decoded);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escapes text for element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:x};", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_isapi_body_with_declaration_namespace_and_entities() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- sent by a client -->
<DeviceInfo version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
  <deviceName>Gate &amp; &#x41;&#66; <![CDATA[<raw>]]></deviceName>
  <isapi:model/>
</DeviceInfo>"#;
        let root = parse(body).unwrap();
        assert_eq!(root.name, "DeviceInfo");
        assert_eq!(root.child_text("deviceName"), Some("Gate & AB <raw>"));
        assert_eq!(root.child_text("model"), Some(""));
        assert_eq!(root.child_text("absent"), None);
    }

    #[test]
    fn refuses_malformed_documents() {
        let cases: &[&[u8]] = &[
            b"",
            b"<a>",
            b"<a></b>",
            b"<a><b></a></b>",
            b"<a>x</a><b/>",
            b"<a x=1/>",
            b"<a x='1'y='2'/>",
            b"<a>&bogus;</a>",
            b"<a>&#xFFFFFFFF;</a>",
            b"<a>& </a>",
            b"<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            b"<1a/>",
            b"not xml",
            b"<a>\xff</a>",
            b"<a><!-- unterminated</a>",
        ];
        for case in cases {
            assert!(parse(case).is_err(), "{:?}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn caps_depth_and_element_count() {
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(parse(deep.as_bytes()).unwrap_err().reason, "elements nested too deep");
        let wide = format!("<a>{}</a>", "<b/>".repeat(1000));
        assert_eq!(parse(wide.as_bytes()).unwrap_err().reason, "too many elements");
    }

    #[test]
    fn escape_round_trips_through_parse() {
        let nasty = "a<b>&\"'\u{1}c";
        let doc = format!("<x>{}</x>", escape(nasty));
        assert_eq!(parse(doc.as_bytes()).unwrap().text, nasty);
    }
}
