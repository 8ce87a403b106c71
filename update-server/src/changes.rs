//! What a configuration change changed, for the activity log: the fields of the admin API's
//! JSON of the object before and after, compared one by one.

use crate::store::ActivityChange;
use serde::Serialize;

/// Fields whose values are never recorded (keys, secrets): a change to one reads
/// `(secret)` on both sides.
const SECRET_FIELDS: [&str; 4] = ["key", "apiKey", "secret", "password"];

/// The value a changed secret shows.
pub(crate) const SECRET: &str = "(secret)";

/// The changes from `before` to `after` (either absent: a creation or a deletion), one per
/// top-level field of their JSON whose value differs, by field name. Unchanged fields
/// give nothing; strings read as themselves, other values as compact JSON, an absent or
/// null field as `None`.
pub(crate) fn diff<T: Serialize>(before: Option<&T>, after: Option<&T>) -> Vec<ActivityChange> {
    let fields = |value: Option<&T>| -> Vec<(String, serde_json::Value)> {
        match value.map(serde_json::to_value) {
            Some(Ok(serde_json::Value::Object(map))) => map.into_iter().collect(),
            _ => Vec::new(),
        }
    };
    let old = fields(before);
    let new = fields(after);
    let mut names: Vec<&String> = old.iter().chain(&new).map(|(k, _)| k).collect();
    names.sort();
    names.dedup();
    let find = |list: &[(String, serde_json::Value)], name: &str| {
        list.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_null())
    };
    let mut changes = Vec::new();
    for name in names {
        let (was, now) = (find(&old, name), find(&new, name));
        if was == now {
            continue;
        }
        let secret = SECRET_FIELDS.contains(&name.as_str());
        let show = |value: Option<serde_json::Value>| {
            value.map(|v| match v {
                _ if secret => SECRET.to_owned(),
                serde_json::Value::String(s) if name.ends_with("url") || name.ends_with("Url") => {
                    without_credentials(&s)
                }
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
        };
        changes.push(ActivityChange {
            field: name.clone(),
            old: show(was),
            new: show(now),
        });
    }
    changes
}

/// A URL with any user name and password in it replaced by `***`.
pub(crate) fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// One change of a value that has no JSON object of its own (a user's key, say).
pub(crate) fn field(name: &str, old: Option<&str>, new: Option<&str>) -> ActivityChange {
    let secret = SECRET_FIELDS.contains(&name);
    let show = |v: Option<&str>| {
        v.map(|v| {
            if secret {
                SECRET.to_owned()
            } else {
                v.to_owned()
            }
        })
    };
    ActivityChange {
        field: name.to_owned(),
        old: show(old),
        new: show(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(field: &str, old: Option<&str>, new: Option<&str>) -> ActivityChange {
        ActivityChange {
            field: field.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        }
    }

    #[test]
    fn only_changed_fields_are_recorded() {
        let before = json!({"label": "prod", "updatePercent": 10.0, "updatesPaused": false});
        let after = json!({"label": "prod", "updatePercent": 50.0, "updatesPaused": true});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            vec![
                change("updatePercent", Some("10.0"), Some("50.0")),
                change("updatesPaused", Some("false"), Some("true")),
            ]
        );
        assert!(diff(Some(&before), Some(&before)).is_empty());
    }

    #[test]
    fn creations_and_deletions_have_one_side() {
        let value = json!({"label": "stable", "version": "1.0.0", "empty": null});
        assert_eq!(
            diff(None, Some(&value)),
            vec![
                change("label", None, Some("stable")),
                change("version", None, Some("1.0.0")),
            ]
        );
        assert_eq!(
            diff(Some(&value), None),
            vec![
                change("label", Some("stable"), None),
                change("version", Some("1.0.0"), None),
            ]
        );
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        let before = json!({"url": "https://user:pw@up.example/v1/"});
        let after = json!({"url": "https://up.example/v1/"});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            vec![change(
                "url",
                Some("https://***@up.example/v1/"),
                Some("https://up.example/v1/")
            )]
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let before = json!({"name": "ops", "key": "old-key"});
        let after = json!({"name": "ops", "key": "new-key"});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            vec![change("key", Some(SECRET), Some(SECRET))]
        );
        assert_eq!(
            field("secret", None, Some("s3cr3t")),
            change("secret", None, Some(SECRET))
        );
    }
}
