//! `${…}` templates in case values, resolved against the run context:
//! `params.X`, `declared.a.b`, `target.username|host|vendor|model|firmware|serial`,
//! `steps.ID.observation`.
//!
//! A value that is exactly one template keeps the referenced JSON type (so
//! `repeat = "${params.attempts}"` is an integer); a template embedded in a longer string is
//! interpolated as text.

use serde_json::Value;

/// Look up a dotted path (`a.b.0.c`) in a JSON value. Missing → `Value::Null`.
pub fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for seg in path.split('.') {
        if seg.is_empty() {
            return None;
        }
        cur = match cur {
            Value::Object(map) => map.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("template `${{{reference}}}` does not resolve: {reason}")]
pub struct TemplateError {
    pub reference: String,
    pub reason: String,
}

/// Resolve a TOML value from a case file into JSON, expanding templates.
pub fn resolve(value: &toml::Value, ctx: &Value) -> Result<Value, TemplateError> {
    Ok(match value {
        toml::Value::String(s) => resolve_str(s, ctx)?,
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, ctx)).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => {
            let mut map = serde_json::Map::new();
            for (k, v) in t {
                map.insert(k.clone(), resolve(v, ctx)?);
            }
            Value::Object(map)
        }
    })
}

pub fn resolve_str(s: &str, ctx: &Value) -> Result<Value, TemplateError> {
    let trimmed = s.trim();
    if let Some(inner) = whole_template(trimmed) {
        return lookup_ref(inner, ctx).cloned();
    }
    if !s.contains("${") {
        return Ok(Value::String(s.to_owned()));
    }
    render_with(s, ctx, str::to_owned).map(Value::String)
}

/// Interpolates every `${…}` in `s` as text, each value passed through `escape` (the one
/// template engine: case values use no escaping, a profile operation's path and body the
/// escaping of where the value lands — form, XML, JSON).
pub fn render_with(s: &str, ctx: &Value, escape: impl Fn(&str) -> String) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(TemplateError {
                reference: after.to_owned(),
                reason: "missing closing `}`".into(),
            });
        };
        let v = lookup_ref(&after[..end], ctx)?;
        match v {
            Value::String(s) => out.push_str(&escape(s)),
            other => out.push_str(&escape(&other.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn whole_template(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains("${") && !inner.contains('}')).then_some(inner)
}

fn lookup_ref<'a>(reference: &str, ctx: &'a Value) -> Result<&'a Value, TemplateError> {
    match lookup(ctx, reference.trim()) {
        Some(v) => Ok(v),
        None => Err(TemplateError {
            reference: reference.to_owned(),
            reason: "no such value in this run".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_template_keeps_type_and_embedded_interpolates() {
        let ctx = json!({"params": {"attempts": 5}, "target": {"username": "admin"}});
        assert_eq!(resolve_str("${params.attempts}", &ctx).unwrap(), json!(5));
        assert_eq!(
            resolve_str("user ${target.username} x${params.attempts}", &ctx).unwrap(),
            json!("user admin x5")
        );
        assert!(resolve_str("${params.nope}", &ctx).is_err());
        assert!(resolve_str("${params.attempts", &ctx).is_err());
    }

    #[test]
    fn lookup_indexes_arrays() {
        let v = json!({"a": [{"b": 1}, {"b": 2}]});
        assert_eq!(lookup(&v, "a.1.b"), Some(&json!(2)));
        assert_eq!(lookup(&v, "a.9.b"), None);
    }
}
