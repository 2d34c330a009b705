//! A webhook's `criteria`: dotted paths of the trigger's payload and the text each must
//! hold. Every execute path filters the webhooks it reaches by them.

/// Whether every criterion (dotted path → expected text) holds in `payload`: exact string
/// equality; numbers and booleans compare by their JSON text.
pub fn criteria_match(
    criteria: &std::collections::BTreeMap<String, String>,
    payload: &serde_json::Value,
) -> bool {
    criteria.iter().all(|(path, expected)| {
        let found = path
            .split('.')
            .try_fold(payload, |value, key| value.get(key));
        match found {
            Some(serde_json::Value::String(s)) => s == expected,
            Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                serde_json::from_str::<serde_json::Value>(expected).is_ok_and(|e| e == *v)
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::criteria_match;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    /// `value` placed at the dotted `path` of an otherwise empty object.
    fn at(path: &[String], value: Value) -> Value {
        path.iter().rev().fold(value, |inner, key| {
            Value::Object(serde_json::Map::from_iter([(key.clone(), inner)]))
        })
    }

    fn paths() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-zA-Z_][a-zA-Z0-9_]{0,8}", 1..4)
    }

    proptest! {
        #[test]
        fn a_string_matches_exactly_itself(path in paths(), text in ".{0,20}", other in ".{0,20}") {
            let payload = at(&path, json!(text));
            let key = path.join(".");
            prop_assert!(criteria_match(&BTreeMap::from([(key.clone(), text.clone())]), &payload));
            prop_assert_eq!(
                criteria_match(&BTreeMap::from([(key, other.clone())]), &payload),
                other == text
            );
        }

        #[test]
        fn numbers_and_booleans_match_their_json_text(path in paths(), n in any::<i64>(), b in any::<bool>()) {
            let key = path.join(".");
            prop_assert!(criteria_match(&BTreeMap::from([(key.clone(), n.to_string())]), &at(&path, json!(n))));
            prop_assert!(criteria_match(&BTreeMap::from([(key.clone(), b.to_string())]), &at(&path, json!(b))));
            let quoted = format!("\"{n}\"");
            let as_string = criteria_match(&BTreeMap::from([(key, quoted)]), &at(&path, json!(n)));
            prop_assert!(!as_string);
        }

        #[test]
        fn missing_paths_objects_arrays_and_null_never_match(path in paths(), extra in "[a-z]{1,5}", text in ".{0,10}") {
            let key = path.join(".");
            let deeper = format!("{key}.{extra}");
            let payload = at(&path, json!(text));
            prop_assert!(!criteria_match(&BTreeMap::from([(deeper, text.clone())]), &payload));
            for value in [Value::Null, json!([text.clone()]), json!({"v": text.clone()})] {
                let payload = at(&path, value);
                prop_assert!(!criteria_match(&BTreeMap::from([(key.clone(), text.clone())]), &payload));
            }
        }

        #[test]
        fn every_criterion_must_hold(path in paths(), a in "[a-z]{1,8}", b in "[a-z]{1,8}") {
            let mut payload = at(&path, json!(a));
            // Generated keys start with a letter or `_`: this one is never among them.
            payload["9other"] = json!(b);
            let both = BTreeMap::from([(path.join("."), a.clone()), ("9other".to_owned(), b.clone())]);
            prop_assert!(criteria_match(&both, &payload));
            let other = format!("{b}x");
            let wrong = BTreeMap::from([(path.join("."), a.clone()), ("9other".to_owned(), other)]);
            prop_assert!(!criteria_match(&wrong, &payload));
            prop_assert!(criteria_match(&BTreeMap::new(), &payload));
        }
    }
}
