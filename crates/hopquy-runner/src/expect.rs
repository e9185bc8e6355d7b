//! Evaluation of a step's expectations against its observations. Pure: no I/O.

use hopquy_case::Expectation;
use serde_json::Value;

use crate::template::{self, TemplateError};

/// Outcome of one expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub held: bool,
    /// `that` and what was observed, for the summary and the report.
    pub observed: Value,
    pub description: String,
}

pub fn check(exp: &Expectation, observations: &Value, ctx: &Value) -> Result<Checked, TemplateError> {
    let path = exp.that.get_ref().as_str();
    let observed = template::lookup(observations, path).cloned().unwrap_or(Value::Null);
    let r = |v: &toml::Value| template::resolve(v, ctx);
    let (held, description) = if let Some(v) = &exp.equals {
        let want = r(v)?;
        (json_eq(&observed, &want), format!("{path} equals {want}"))
    } else if let Some(v) = &exp.not_equals {
        let want = r(v)?;
        (!json_eq(&observed, &want), format!("{path} differs from {want}"))
    } else if let Some(vs) = &exp.one_of {
        let set = vs.iter().map(r).collect::<Result<Vec<_>, _>>()?;
        (
            set.iter().any(|w| json_eq(&observed, w)),
            format!("{path} is one of {}", Value::Array(set.clone())),
        )
    } else if let Some(vs) = &exp.none_of {
        let set = vs.iter().map(r).collect::<Result<Vec<_>, _>>()?;
        (
            !set.iter().any(|w| json_eq(&observed, w)),
            format!("{path} is none of {}", Value::Array(set.clone())),
        )
    } else if let Some(v) = &exp.less_than {
        let want = r(v)?;
        (cmp_num(&observed, &want, |a, b| a < b), format!("{path} < {want}"))
    } else if let Some(v) = &exp.at_most {
        let want = r(v)?;
        (cmp_num(&observed, &want, |a, b| a <= b), format!("{path} <= {want}"))
    } else if let Some(v) = &exp.greater_than {
        let want = r(v)?;
        (cmp_num(&observed, &want, |a, b| a > b), format!("{path} > {want}"))
    } else if let Some(v) = &exp.at_least {
        let want = r(v)?;
        (cmp_num(&observed, &want, |a, b| a >= b), format!("{path} >= {want}"))
    } else if let Some(v) = &exp.contains {
        let want = r(v)?;
        (contains(&observed, &want), format!("{path} contains {want}"))
    } else if let Some(v) = &exp.not_contains {
        let want = r(v)?;
        (!contains(&observed, &want), format!("{path} does not contain {want}"))
    } else if let Some(re) = &exp.matches {
        (regex_match(&observed, re), format!("{path} matches /{re}/"))
    } else if let Some(re) = &exp.not_matches {
        (!regex_match(&observed, re), format!("{path} does not match /{re}/"))
    } else if let Some(want_empty) = exp.empty {
        let is_empty = is_empty(&observed);
        (
            is_empty == want_empty,
            format!("{path} is {}", if want_empty { "empty" } else { "not empty" }),
        )
    } else if let Some(want_exists) = exp.exists {
        let exists = !observed.is_null();
        (
            exists == want_exists,
            format!("{path} {}", if want_exists { "is present" } else { "is absent" }),
        )
    } else {
        // Validation guarantees one operator; an expectation without one cannot hold.
        (false, format!("{path}: expectation has no operator"))
    };
    Ok(Checked {
        held,
        observed,
        description,
    })
}

/// Equality with numeric coercion (5 == 5.0) and case-sensitive strings.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn cmp_num(a: &Value, b: &Value, f: impl Fn(f64, f64) -> bool) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => f(x, y),
        _ => false,
    }
}

fn contains(hay: &Value, needle: &Value) -> bool {
    match hay {
        Value::String(s) => match needle {
            Value::String(n) => s.contains(n.as_str()),
            other => s.contains(&other.to_string()),
        },
        Value::Array(items) => items.iter().any(|i| json_eq(i, needle)),
        Value::Object(map) => needle.as_str().is_some_and(|k| map.contains_key(k)),
        _ => false,
    }
}

fn regex_match(v: &Value, re: &str) -> bool {
    let Ok(re) = regex::Regex::new(re) else { return false };
    match v {
        Value::String(s) => re.is_match(s),
        Value::Null => false,
        other => re.is_match(&other.to_string()),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exp(toml_text: &str) -> Expectation {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn operators() {
        let obs = json!({"accepted": 0, "statuses": [401, 401], "body": "password incorrect", "list": []});
        let ctx = json!({"params": {"n": 2}});
        let cases = [
            ("that='accepted'\nequals=0\nbecause='x'", true),
            ("that='accepted'\nequals=1\nbecause='x'", false),
            ("that='accepted'\nless_than='${params.n}'\nbecause='x'", true),
            ("that='statuses'\ncontains=401\nbecause='x'", true),
            ("that='statuses'\nnot_contains=200\nbecause='x'", true),
            ("that='body'\nmatches='(?i)incorrect'\nbecause='x'", true),
            ("that='body'\nnot_contains='user'\nbecause='x'", true),
            ("that='list'\nempty=true\nbecause='x'", true),
            ("that='missing'\nexists=false\nbecause='x'", true),
            ("that='missing'\nat_least=0\nbecause='x'", false),
            ("that='accepted'\none_of=[1,2]\nbecause='x'", false),
        ];
        for (src, want) in cases {
            let c = check(&exp(src), &obs, &ctx).unwrap();
            assert_eq!(c.held, want, "{src}: {c:?}");
        }
    }
}
