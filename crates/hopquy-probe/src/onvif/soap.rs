//! A small, bounded XML reader for SOAP answers from devices, and the SOAP views the ONVIF
//! probe needs (envelope version, the first Body element, faults).
//!
//! Device bytes are hostile. The reader refuses DTDs (so no entity expansion, no external
//! entities), caps depth, element count, attribute count and kept text, never recurses
//! (a 100 000-deep document cannot overflow the stack), and never panics: every failure is a
//! [`SoapError`] with the byte offset where reading stopped.

use std::collections::BTreeMap;
use std::sync::Arc;

pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const ONVIF_ERROR_NS: &str = "http://www.onvif.org/ver10/error";

/// Bounds on what one document may make us build.
const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 8192;
const MAX_ATTRIBUTES: usize = 64;
/// Text kept per element; the rest is counted, not stored.
const MAX_TEXT_BYTES: usize = 64 * 1024;
const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// Namespace bindings built over the whole document (each element that declares one gets
/// its own copy of the scope), and the longest namespace URI accepted.
const MAX_SCOPE_ENTRIES: usize = 20_000;
const MAX_NAMESPACE_URI_BYTES: usize = 512;
/// Characters of a fault reason or QName reported in observations.
const MAX_REPORTED_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable XML at byte {offset}: {reason}")]
pub struct SoapError {
    pub offset: usize,
    pub reason: &'static str,
}

/// One element: its name split at the prefix, the namespace the prefix resolves to, its
/// attributes as written, its direct text (entities decoded) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlElement {
    pub prefix: Option<String>,
    pub local: String,
    pub namespace: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<XmlElement>,
    /// Namespace bindings in scope here (prefix → URI, `""` for the default namespace),
    /// for resolving QName values such as `ter:NotAuthorized`.
    pub in_scope: Arc<BTreeMap<String, String>>,
}

impl XmlElement {
    /// First child with this local name, any namespace.
    pub fn child(&self, local: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.local == local)
    }

    /// Trimmed text of the first child with this local name.
    pub fn child_text(&self, local: &str) -> Option<&str> {
        self.child(local).map(|c| c.text.trim())
    }

    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name.rsplit(':').next() == Some(local))
            .map(|(_, v)| v.as_str())
    }

    /// A QName value (`xx:NotAuthorized`) with its prefix replaced by the conventional one
    /// for well-known namespaces (`ter`, `env`, `SOAP-ENV`), so findings read the same
    /// whatever prefix a device chose. Unknown namespaces keep the prefix as sent.
    pub fn normalised_qname(&self, value: &str) -> String {
        let value = bounded_chars(value.trim());
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", value.as_str()),
        };
        let conventional = match self.in_scope.get(prefix).map(String::as_str) {
            Some(ONVIF_ERROR_NS) => Some("ter"),
            Some(SOAP12_NS) => Some("env"),
            Some(SOAP11_NS) => Some("SOAP-ENV"),
            _ => None,
        };
        match (conventional, prefix) {
            (Some(c), _) => format!("{c}:{local}"),
            (None, "") => local.to_owned(),
            (None, p) => format!("{p}:{local}"),
        }
    }
}

fn bounded_chars(text: &str) -> String {
    text.chars().take(MAX_REPORTED_CHARS).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SoapVersion {
    #[serde(rename = "1.2")]
    Soap12,
    #[serde(rename = "1.1")]
    Soap11,
}

/// A SOAP fault: `Code/Value`, the chain of `Subcode/Value`s (normalised QNames) and the
/// first `Reason/Text`. SOAP 1.1 faults map `faultcode` to `code` and `faultstring` to
/// `reason`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SoapFault {
    pub code: String,
    pub subcodes: Vec<String>,
    pub reason: Option<String>,
}

impl SoapFault {
    /// The most specific code the device gave: the first subcode, else the code. ONVIF puts
    /// the meaning (`ter:NotAuthorized`) in the first subcode.
    pub fn primary(&self) -> &str {
        self.subcodes.first().unwrap_or(&self.code)
    }

    /// True for ONVIF's "sender not authorised" fault, under any prefix or nesting level.
    pub fn is_not_authorized(&self) -> bool {
        self.subcodes
            .iter()
            .chain(std::iter::once(&self.code))
            .any(|c| c.rsplit(':').next() == Some("NotAuthorized"))
    }
}

/// What a SOAP answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapMessage {
    pub version: SoapVersion,
    /// The first element of the Body, unless the body is a fault.
    pub response: Option<XmlElement>,
    pub fault: Option<SoapFault>,
}

impl SoapMessage {
    /// Local name of the first Body element (`GetDeviceInformationResponse`, `Fault`).
    pub fn body_element(&self) -> Option<&str> {
        match (&self.response, &self.fault) {
            (Some(r), _) => Some(r.local.as_str()),
            (None, Some(_)) => Some("Fault"),
            (None, None) => None,
        }
    }
}

/// Read `bytes` as a SOAP envelope (1.2 or 1.1).
pub fn parse_soap(bytes: &[u8]) -> Result<SoapMessage, SoapError> {
    let root = parse_xml(bytes)?;
    let version = match (root.local.as_str(), root.namespace.as_deref()) {
        ("Envelope", Some(SOAP12_NS)) => SoapVersion::Soap12,
        ("Envelope", Some(SOAP11_NS)) => SoapVersion::Soap11,
        ("Envelope", _) => {
            return Err(SoapError {
                offset: 0,
                reason: "Envelope is not in a SOAP namespace",
            });
        }
        _ => {
            return Err(SoapError {
                offset: 0,
                reason: "root element is not a SOAP Envelope",
            });
        }
    };
    let envelope_ns = root.namespace.clone();
    let body = root
        .children
        .iter()
        .find(|c| c.local == "Body" && c.namespace == envelope_ns)
        .ok_or(SoapError {
            offset: 0,
            reason: "SOAP Envelope has no Body",
        })?;
    let first = body.children.first();
    match first {
        Some(f) if f.local == "Fault" && f.namespace == envelope_ns => Ok(SoapMessage {
            version,
            response: None,
            fault: Some(read_fault(f, version)),
        }),
        Some(other) => Ok(SoapMessage {
            version,
            response: Some(other.clone()),
            fault: None,
        }),
        None => Ok(SoapMessage {
            version,
            response: None,
            fault: None,
        }),
    }
}

fn read_fault(fault: &XmlElement, version: SoapVersion) -> SoapFault {
    match version {
        SoapVersion::Soap12 => {
            let code_el = fault.child("Code");
            let code = code_el
                .and_then(|c| c.child("Value"))
                .map(|v| v.normalised_qname(&v.text))
                .unwrap_or_default();
            let mut subcodes = Vec::new();
            // Subcodes nest (Subcode/Subcode/…); walk them without recursion, bounded by
            // the parser's depth cap.
            let mut cursor = code_el.and_then(|c| c.child("Subcode"));
            while let Some(sub) = cursor {
                if let Some(v) = sub.child("Value") {
                    subcodes.push(v.normalised_qname(&v.text));
                }
                cursor = sub.child("Subcode");
            }
            let reason = fault
                .child("Reason")
                .and_then(|r| r.child("Text"))
                .map(|t| bounded_chars(t.text.trim()));
            SoapFault { code, subcodes, reason }
        }
        SoapVersion::Soap11 => {
            let code = fault
                .child("faultcode")
                .map(|v| v.normalised_qname(&v.text))
                .unwrap_or_default();
            let reason = fault.child_text("faultstring").map(bounded_chars);
            SoapFault {
                code,
                subcodes: Vec::new(),
                reason,
            }
        }
    }
}

/// Read one XML document into a tree, within the bounds above.
pub fn parse_xml(bytes: &[u8]) -> Result<XmlElement, SoapError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(SoapError {
            offset: MAX_DOCUMENT_BYTES,
            reason: "document exceeds the size bound",
        });
    }
    // Devices that mislabel Latin-1 still get read; the damage is confined to odd characters.
    let text = String::from_utf8_lossy(bytes);
    Reader {
        text: &text,
        pos: 0,
        scope_entries: 0,
    }
    .document()
}

struct Open {
    element: XmlElement,
    qualified: String,
    text_dropped: bool,
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    scope_entries: usize,
}

impl Reader<'_> {
    fn error(&self, reason: &'static str) -> SoapError {
        SoapError {
            offset: self.pos,
            reason,
        }
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn advance(&mut self, bytes: usize) {
        self.pos = (self.pos + bytes).min(self.text.len());
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        self.advance(rest.len() - trimmed.len());
    }

    fn skip_past(&mut self, terminator: &str, reason: &'static str) -> Result<(), SoapError> {
        match self.rest().find(terminator) {
            Some(at) => {
                self.advance(at + terminator.len());
                Ok(())
            }
            None => Err(self.error(reason)),
        }
    }

    /// Whitespace, comments and processing instructions outside the root element.
    fn skip_misc(&mut self) -> Result<(), SoapError> {
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("<?") {
                self.skip_past("?>", "unterminated processing instruction")?;
            } else if rest.starts_with("<!--") {
                self.skip_past("-->", "unterminated comment")?;
            } else if rest.starts_with("<!") {
                return Err(self.error("DTDs and declarations are refused"));
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String, SoapError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(rest.len());
        let starts_well = rest.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
        if len == 0 || !starts_well || len > 256 {
            return Err(self.error("expected a name"));
        }
        let name = rest[..len].to_owned();
        self.advance(len);
        Ok(name)
    }

    fn document(&mut self) -> Result<XmlElement, SoapError> {
        if self.rest().starts_with('\u{feff}') {
            self.advance('\u{feff}'.len_utf8());
        }
        self.skip_misc()?;
        let mut stack: Vec<Open> = Vec::new();
        let mut elements = 0usize;
        let mut root: Option<XmlElement> = None;
        loop {
            if root.is_some() {
                self.skip_misc()?;
                if !self.rest().is_empty() {
                    return Err(self.error("content after the root element"));
                }
                break;
            }
            let rest = self.rest();
            if rest.is_empty() {
                return Err(self.error(if stack.is_empty() {
                    "no root element"
                } else {
                    "unterminated element"
                }));
            }
            if stack.is_empty() && !rest.starts_with('<') {
                return Err(self.error("text before the root element"));
            }
            if rest.starts_with("</") {
                self.advance(2);
                let closing = self.name()?;
                self.skip_whitespace();
                if !self.rest().starts_with('>') {
                    return Err(self.error("expected '>' after a closing tag"));
                }
                self.advance(1);
                let Some(open) = stack.pop() else {
                    return Err(self.error("closing tag without an open element"));
                };
                if closing != open.qualified {
                    return Err(self.error("mismatched closing tag"));
                }
                let done = open.element;
                match stack.last_mut() {
                    Some(parent) => parent.element.children.push(done),
                    None => root = Some(done),
                }
            } else if rest.starts_with("<!--") {
                self.skip_past("-->", "unterminated comment")?;
            } else if rest.starts_with("<![CDATA[") {
                self.advance("<![CDATA[".len());
                let end = self
                    .rest()
                    .find("]]>")
                    .ok_or_else(|| self.error("unterminated CDATA section"))?;
                let raw = self.rest()[..end].to_owned();
                if let Some(open) = stack.last_mut() {
                    push_text(open, &raw);
                }
                self.advance(end + 3);
            } else if rest.starts_with("<?") {
                self.skip_past("?>", "unterminated processing instruction")?;
            } else if rest.starts_with("<!") {
                return Err(self.error("DTDs and declarations are refused"));
            } else if rest.starts_with('<') {
                if stack.len() >= MAX_DEPTH {
                    return Err(self.error("elements nested too deep"));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(self.error("too many elements"));
                }
                let parent_scope = stack.last().map(|o| o.element.in_scope.clone());
                let (open, self_closing) = self.start_tag(parent_scope)?;
                if self_closing {
                    match stack.last_mut() {
                        Some(parent) => parent.element.children.push(open.element),
                        None => root = Some(open.element),
                    }
                } else {
                    stack.push(open);
                }
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let start = self.pos;
                let decoded = unescape(&rest[..end]).map_err(|at| SoapError {
                    offset: start + at,
                    reason: "unknown entity or bad character reference",
                })?;
                if let Some(open) = stack.last_mut() {
                    push_text(open, &decoded);
                }
                self.advance(end);
            }
        }
        root.ok_or_else(|| self.error("no root element"))
    }

    /// Reads `<name attr="v" …>` or `<name …/>`; resolves the element's namespace.
    fn start_tag(&mut self, parent_scope: Option<Arc<BTreeMap<String, String>>>) -> Result<(Open, bool), SoapError> {
        self.advance(1);
        let qualified = self.name()?;
        let mut attributes = Vec::new();
        let mut self_closing = false;
        loop {
            let before = self.pos;
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.advance(2);
                self_closing = true;
                break;
            }
            if rest.starts_with('>') {
                self.advance(1);
                break;
            }
            if rest.is_empty() {
                return Err(self.error("unterminated start tag"));
            }
            if self.pos == before {
                return Err(self.error("expected whitespace before an attribute"));
            }
            let name = self.name()?;
            self.skip_whitespace();
            if !self.rest().starts_with('=') {
                return Err(self.error("expected '=' after an attribute name"));
            }
            self.advance(1);
            self.skip_whitespace();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.error("attribute value must be quoted")),
            };
            self.advance(1);
            let end = self
                .rest()
                .find(quote)
                .ok_or_else(|| self.error("unterminated attribute value"))?;
            let raw = &self.rest()[..end];
            if raw.contains('<') {
                return Err(self.error("'<' in an attribute value"));
            }
            let start = self.pos;
            let value = unescape(raw).map_err(|at| SoapError {
                offset: start + at,
                reason: "unknown entity in an attribute value",
            })?;
            self.advance(end + 1);
            if attributes.len() >= MAX_ATTRIBUTES {
                return Err(self.error("too many attributes"));
            }
            attributes.push((name, value));
        }

        let declarations: Vec<(&str, &str)> = attributes
            .iter()
            .filter_map(|(name, value)| {
                let prefix = if name == "xmlns" {
                    Some("")
                } else {
                    name.strip_prefix("xmlns:")
                };
                prefix.map(|p| (p, value.as_str()))
            })
            .collect();
        let mut in_scope = parent_scope.unwrap_or_default();
        if !declarations.is_empty() {
            if declarations.iter().any(|(_, uri)| uri.len() > MAX_NAMESPACE_URI_BYTES) {
                return Err(self.error("namespace URI too long"));
            }
            // Elements share their parent's scope unless they declare; a declaring element
            // copies it, so the copies are what must stay bounded.
            let mut scope = (*in_scope).clone();
            for (prefix, uri) in declarations {
                scope.insert(prefix.to_owned(), uri.to_owned());
            }
            self.scope_entries += scope.len();
            if self.scope_entries > MAX_SCOPE_ENTRIES {
                return Err(self.error("too many namespace declarations"));
            }
            in_scope = Arc::new(scope);
        }
        let (prefix, local) = match qualified.split_once(':') {
            Some((p, l)) => (Some(p.to_owned()), l.to_owned()),
            None => (None, qualified.clone()),
        };
        let namespace = in_scope.get(prefix.as_deref().unwrap_or("")).cloned();
        let element = XmlElement {
            prefix,
            local,
            namespace,
            attributes,
            text: String::new(),
            children: Vec::new(),
            in_scope,
        };
        Ok((
            Open {
                element,
                qualified,
                text_dropped: false,
            },
            self_closing,
        ))
    }
}

fn push_text(open: &mut Open, text: &str) {
    let room = MAX_TEXT_BYTES.saturating_sub(open.element.text.len());
    if text.len() <= room {
        open.element.text.push_str(text);
    } else if !open.text_dropped {
        let mut cut = room;
        while cut > 0 && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        open.element.text.push_str(&text[..cut]);
        open.text_dropped = true;
    }
}

/// Decodes the five predefined entities and numeric references; anything else is an error
/// carrying the offset of the bad `&`. Entities are never expanded recursively.
fn unescape(raw: &str) -> Result<String, usize> {
    if !raw.contains('&') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let offset = raw.len() - rest.len() + amp;
        let after = &rest[amp + 1..];
        let semi = after.find(';').filter(|&s| s <= 12).ok_or(offset)?;
        let entity = &after[..semi];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or(offset)?
            }
        };
        out.push(decoded);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escape text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOT_AUTHORIZED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:err="http://www.onvif.org/ver10/error">
 <SOAP-ENV:Body><SOAP-ENV:Fault>
  <SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
   <SOAP-ENV:Subcode><SOAP-ENV:Value>err:NotAuthorized</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code>
  <SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Sender not Authorized &amp; &#x41;</SOAP-ENV:Text></SOAP-ENV:Reason>
 </SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

    #[test]
    fn reads_an_onvif_fault_under_any_prefix() {
        let msg = parse_soap(NOT_AUTHORIZED.as_bytes()).unwrap();
        assert_eq!(msg.version, SoapVersion::Soap12);
        let fault = msg.fault.unwrap();
        assert_eq!(fault.code, "env:Sender");
        assert_eq!(fault.subcodes, vec!["ter:NotAuthorized".to_owned()]);
        assert_eq!(fault.primary(), "ter:NotAuthorized");
        assert!(fault.is_not_authorized());
        assert_eq!(fault.reason.as_deref(), Some("Sender not Authorized & A"));
    }

    #[test]
    fn reads_nested_subcodes_and_soap11_faults() {
        let nested = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault><e:Code>
            <e:Value>e:Sender</e:Value><e:Subcode><e:Value xmlns:t="http://www.onvif.org/ver10/error">t:InvalidArgVal</e:Value>
            <e:Subcode><e:Value xmlns:t="http://www.onvif.org/ver10/error">t:NoProfile</e:Value></e:Subcode></e:Subcode>
            </e:Code><e:Reason><e:Text>no profile</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"#;
        let fault = parse_soap(nested.as_bytes()).unwrap().fault.unwrap();
        assert_eq!(fault.subcodes, ["ter:InvalidArgVal", "ter:NoProfile"]);
        assert!(!fault.is_not_authorized());

        let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
            <faultcode>s:Client</faultcode><faultstring>Unauthorized</faultstring></s:Fault></s:Body></s:Envelope>"#;
        let msg = parse_soap(soap11.as_bytes()).unwrap();
        assert_eq!(msg.version, SoapVersion::Soap11);
        let fault = msg.fault.unwrap();
        assert_eq!(fault.code, "SOAP-ENV:Client");
        assert_eq!(fault.reason.as_deref(), Some("Unauthorized"));
    }

    #[test]
    fn reads_a_response_body_with_default_namespace_and_cdata() {
        let doc = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Header/><env:Body>
            <GetDeviceInformationResponse xmlns="http://www.onvif.org/ver10/device/wsdl">
            <Manufacturer><![CDATA[A<B]]></Manufacturer><Model>M &lt;1&gt;</Model></GetDeviceInformationResponse>
            </env:Body></env:Envelope>"#;
        let msg = parse_soap(doc.as_bytes()).unwrap();
        let r = msg.response.unwrap();
        assert_eq!(r.local, "GetDeviceInformationResponse");
        assert_eq!(r.namespace.as_deref(), Some("http://www.onvif.org/ver10/device/wsdl"));
        assert_eq!(r.child_text("Manufacturer"), Some("A<B"));
        assert_eq!(r.child_text("Model"), Some("M <1>"));
        assert!(msg.fault.is_none());
    }

    #[test]
    fn a_fault_outside_the_envelope_namespace_is_just_an_element() {
        let doc = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x:Fault xmlns:x="urn:other"/></s:Body></s:Envelope>"#;
        let msg = parse_soap(doc.as_bytes()).unwrap();
        assert!(msg.fault.is_none());
        assert_eq!(msg.body_element(), Some("Fault"));
    }

    #[test]
    fn refuses_garbage_and_non_soap_documents() {
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b"not xml at all",
            b"<html><body>login</body></html>",
            b"<Envelope><Body/></Envelope>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>",
            b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>",
            b"<a></b>",
            b"<a x=1/>",
            b"<a>&bogus;</a>",
            b"<a>&#xFFFFFFFF;</a>",
            b"<a><b></a></b>",
            b"<a/><b/>",
            b"<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            b"<a><!DOCTYPE x></a>",
            b"\xff\xfe<\x00a\x00>",
            b"<a attr=\"<\"/>",
            b"<a",
            b"<a b=\"c",
            b"</a>",
        ];
        for case in cases {
            assert!(parse_soap(case).is_err(), "{:?}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn billion_laughs_is_refused_without_expansion() {
        let doc = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&lol2;</s:Body></s:Envelope>"#;
        let err = parse_soap(doc).unwrap_err();
        assert_eq!(err.reason, "DTDs and declarations are refused");
    }

    #[test]
    fn deep_nesting_is_bounded_without_recursion() {
        let depth = 200_000;
        let doc = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert_eq!(
            parse_xml(doc.as_bytes()).err().map(|e| e.reason),
            Some("elements nested too deep")
        );
        // Just inside the bound still reads.
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse_xml(ok.as_bytes()).is_ok());
    }

    #[test]
    fn element_count_text_and_document_size_are_bounded() {
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 10));
        assert_eq!(
            parse_xml(wide.as_bytes()).err().map(|e| e.reason),
            Some("too many elements")
        );

        let long_text = format!("<a>{}</a>", "x".repeat(MAX_TEXT_BYTES * 3));
        assert_eq!(parse_xml(long_text.as_bytes()).unwrap().text.len(), MAX_TEXT_BYTES);

        let huge = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(
            parse_xml(&huge).err().map(|e| e.reason),
            Some("document exceeds the size bound")
        );

        let many_attrs = format!(
            "<a {}/>",
            (0..100).map(|i| format!("x{i}=\"1\"")).collect::<Vec<_>>().join(" ")
        );
        assert_eq!(
            parse_xml(many_attrs.as_bytes()).err().map(|e| e.reason),
            Some("too many attributes")
        );
    }

    #[test]
    fn namespace_declarations_are_bounded() {
        let decls: String = (0..60).map(|i| format!(" xmlns:p{i}=\"urn:{i}\"")).collect();
        let doc = format!("<r>{}</r>", format!("<a{decls}/>").repeat(400));
        assert_eq!(
            parse_xml(doc.as_bytes()).err().map(|e| e.reason),
            Some("too many namespace declarations")
        );
        let long = format!("<a xmlns:x=\"{}\"/>", "u".repeat(MAX_NAMESPACE_URI_BYTES + 1));
        assert_eq!(
            parse_xml(long.as_bytes()).err().map(|e| e.reason),
            Some("namespace URI too long")
        );
    }

    #[test]
    fn reported_fault_text_is_bounded() {
        let reason = "r".repeat(10_000);
        let doc = format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>{reason}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#
        );
        let fault = parse_soap(doc.as_bytes()).unwrap().fault.unwrap();
        assert_eq!(fault.reason.map(|r| r.chars().count()), Some(MAX_REPORTED_CHARS));
        assert_eq!(fault.code, "env:Receiver");
        assert!(fault.subcodes.is_empty());
    }

    #[test]
    fn random_bytes_never_panic() {
        // A cheap deterministic fuzz: mutations of a valid fault.
        let base = NOT_AUTHORIZED.as_bytes();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut doc = base.to_vec();
            let at = (state as usize) % doc.len();
            let len = ((state >> 20) as usize % 40).min(doc.len() - at);
            match state % 3 {
                0 => {
                    doc.drain(at..at + len);
                }
                1 => doc[at] = (state >> 8) as u8,
                _ => doc.truncate(at),
            }
            let _ = parse_soap(&doc);
        }
        assert!(parse_soap(base).is_ok());
    }

    #[test]
    fn escape_round_trips() {
        let nasty = "a<b>&\"'c";
        let doc = format!("<x a=\"{}\">{}</x>", escape(nasty), escape(nasty));
        let el = parse_xml(doc.as_bytes()).unwrap();
        assert_eq!(el.text, nasty);
        assert_eq!(el.attribute("a"), Some(nasty));
    }
}
