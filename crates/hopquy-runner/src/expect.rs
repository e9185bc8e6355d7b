//! Evaluation of a step's expectations against its observations. Pure: no I/O.

use hopquy_case::{Expectation, Pattern};
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
    } else if let Some(v) = &exp.version_below {
        let want = r(v)?;
        let held = compare_versions(&observed, &want, exp.version_from.as_ref()).is_some_and(|o| o.is_lt());
        (held, format!("{path}{} is a version below {want}", from_note(exp)))
    } else if let Some(v) = &exp.version_at_least {
        let want = r(v)?;
        let held = compare_versions(&observed, &want, exp.version_from.as_ref()).is_some_and(|o| o.is_ge());
        (held, format!("{path}{} is a version at least {want}", from_note(exp)))
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

fn regex_match(v: &Value, pattern: &Pattern) -> bool {
    let Some(re) = pattern.regex() else { return false };
    match v {
        Value::String(s) => re.is_match(s),
        Value::Null => false,
        other => re.is_match(&other.to_string()),
    }
}

fn from_note(exp: &Expectation) -> String {
    exp.version_from
        .as_deref()
        .map(|re| format!(" (version read by /{re}/)"))
        .unwrap_or_default()
}

/// The numbers of a version, in order: every run of ASCII digits (`V5.4.0 build 160530` is
/// 5, 4, 0, 160530). Firmware strings mix dots, letters, `build` and dates; reading only the
/// numbers compares them the way vendors' advisories list fixed versions. Runs too long for a
/// u64 are no version.
pub fn version_numbers(text: &str) -> Option<Vec<u64>> {
    let numbers: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (!numbers.is_empty()).then_some(numbers)
}

/// The version `pattern` picks out of `text`: its capture groups joined by spaces, or the
/// whole match when it has none. `None` when it does not match (the device reported no
/// version the case knows how to read).
fn pick_version(text: &str, pattern: Option<&Pattern>) -> Option<String> {
    let Some(pattern) = pattern else {
        return Some(text.to_string());
    };
    let re = pattern.regex()?;
    let caps = re.captures(text)?;
    if caps.len() == 1 {
        return caps.get(0).map(|m| m.as_str().to_string());
    }
    let groups: Vec<&str> = caps.iter().skip(1).flatten().map(|m| m.as_str()).collect();
    (!groups.is_empty()).then(|| groups.join(" "))
}

/// Observed version against the wanted one; missing components count as 0 (`5.5` = `5.5.0`).
/// `None` when either side holds no version: the expectation then does not hold, so a case
/// puts a `matches` before it to say *inconclusive* for a firmware string it cannot read.
fn compare_versions(observed: &Value, want: &Value, pattern: Option<&Pattern>) -> Option<std::cmp::Ordering> {
    let text = match observed {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let want = match want {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let got = version_numbers(&pick_version(&text, pattern)?)?;
    let want = version_numbers(&want)?;
    let width = got.len().max(want.len());
    let pad = |v: &[u64]| (0..width).map(|i| v.get(i).copied().unwrap_or(0)).collect::<Vec<_>>();
    Some(pad(&got).cmp(&pad(&want)))
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

    #[test]
    fn versions_compare_number_by_number() {
        let obs = json!({
            "old": "V5.4.0 build 160530",
            "new": "V5.7.20 build 240826",
            "body": "<firmwareVersion>V5.5.800</firmwareVersion><firmwareReleasedDate>build 210610</firmwareReleasedDate>",
            "none": "unknown",
            "short": "5.5",
        });
        let ctx = json!({"params": {"fixed": "210628"}});
        let cases = [
            ("that='old'\nversion_below='5.5.800 build 210628'\nbecause='x'", true),
            ("that='new'\nversion_below='5.5.800 build 210628'\nbecause='x'", false),
            ("that='new'\nversion_at_least='5.5.800'\nbecause='x'", true),
            // Missing components are zeros: 5.5 is 5.5.0.
            ("that='short'\nversion_at_least='5.5.0'\nbecause='x'", true),
            ("that='short'\nversion_below='5.5.1'\nbecause='x'", true),
            // A pattern picks the build date out of a document full of other numbers.
            (
                "that='body'\nversion_from='build\\s*(\\d{6})'\nversion_below='${params.fixed}'\nbecause='x'",
                true,
            ),
            (
                "that='body'\nversion_from='build\\s*(\\d{6})'\nversion_at_least='210610'\nbecause='x'",
                true,
            ),
            // No version to read: neither comparison holds.
            ("that='none'\nversion_below='1'\nbecause='x'", false),
            ("that='none'\nversion_at_least='1'\nbecause='x'", false),
            (
                "that='body'\nversion_from='nomatch (\\d+)'\nversion_at_least='1'\nbecause='x'",
                false,
            ),
            ("that='missing'\nversion_below='9'\nbecause='x'", false),
        ];
        for (src, want) in cases {
            let c = check(&exp(src), &obs, &ctx).unwrap();
            assert_eq!(c.held, want, "{src}: {c:?}");
        }
    }
}
