//! # order-validator: an MPT `validatePurchaseOrderDraft` webhook
//!
//! The marketplace platform calls `validate*` webhooks synchronously with the object being
//! edited and reads the verdict from the answer: the same object back, unchanged when it is
//! valid, or with an order-level `"error": {"id": "VAL-…", "message": "…"}` when it is not.
//! An invalid order is therefore still a *successful* call (`Ok`); only a payload that is not
//! an order at all is `invalid-input`.
//!
//! ## Payload
//! An MPT Order object: `id`, `lines: [{id, item: {id, name}, quantity, price: {…}}]`,
//! `parameters: {ordering: [{externalId, value, …}]}`, `agreement`, `product: {id}`, …
//! Every field is passed through; only those above are read.
//!
//! ## Configuration
//! - `required_parameters`: comma-separated `externalId`s of ordering parameters that must
//!   have a non-empty `value` (default: none);
//! - `max_quantity`: the largest quantity allowed on one line (default: no limit).
//!
//! ## Checks, in order (the first failing check's code is reported)
//! | code | check |
//! |---|---|
//! | `VAL-001` | the order has at least one line |
//! | `VAL-002` | every line names an item (`item.id`) |
//! | `VAL-003` | every quantity is a whole number greater than 0 |
//! | `VAL-004` | no quantity exceeds `max_quantity` |
//! | `VAL-005` | no item appears on two lines |
//! | `VAL-006` | every required ordering parameter has a value |
//!
//! The message describes the first problem and counts the others ("… (and 2 more
//! problems)"); every problem is also logged. A stale order-level `error` on a valid order is
//! removed, so fixing the order clears the verdict.

use std::collections::BTreeMap;

use hookhost_sdk::{Failure, Handler, Invocation, Outcome, config};
use serde_json::{Value, json};

/// The plugin.
pub struct OrderValidator;

impl Handler for OrderValidator {
    fn handle(inv: Invocation) -> Result<Outcome, Failure> {
        let rules = Rules {
            required_parameters: config::list("required_parameters"),
            max_quantity: config::parse::<u64>("max_quantity")?,
        };
        let order = inv.payload_json()?;
        let problems = validate(&order, &rules)?;
        for p in &problems {
            hookhost_sdk::info!("{}: {}", p.code, p.message);
        }
        if problems.is_empty() && order.get("error").is_none() {
            // Valid and nothing to remove: hand the object back byte for byte.
            return Ok(Outcome::raw_json(inv.payload));
        }
        Outcome::json(&with_verdict(order, &problems))
    }
}

hookhost_sdk::export!(OrderValidator);

/// The tenant's rules, from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// `externalId`s of ordering parameters that must have a value.
    pub required_parameters: Vec<String>,
    /// The largest quantity allowed on one line.
    pub max_quantity: Option<u64>,
}

/// One thing wrong with an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `VAL-00x`, see the crate docs.
    pub code: &'static str,
    /// What is wrong, naming the line, item or parameter.
    pub message: String,
}

fn problem(code: &'static str, message: String) -> Problem {
    Problem { code, message }
}

/// Checks `order` against `rules`; an empty list means valid.
///
/// Fails only when `order` is not an order object at all.
pub fn validate(order: &Value, rules: &Rules) -> Result<Vec<Problem>, Failure> {
    let Some(obj) = order.as_object() else {
        return Err(Failure::invalid_input(
            "payload must be an MPT Order object (a JSON object)",
        ));
    };
    if !["id", "lines", "product", "agreement"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return Err(Failure::invalid_input(
            "payload is not an MPT Order: it has none of `id`, `lines`, `product`, `agreement`",
        ));
    }
    let lines = match obj.get("lines") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(lines)) => lines.as_slice(),
        Some(other) => {
            return Err(Failure::invalid_input(format!(
                "order `lines` must be a list, got {other}"
            )));
        }
    };

    let mut problems = Vec::new();
    if lines.is_empty() {
        problems.push(problem("VAL-001", "The order has no lines.".to_owned()));
    }
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    let mut quantity_problems = Vec::new();
    let mut limit_problems = Vec::new();
    let mut item_problems = Vec::new();
    let mut duplicate_problems = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let label = line_label(line, index);
        let item_id = line
            .pointer("/item/id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match item_id {
            None => item_problems.push(problem(
                "VAL-002",
                format!("Line {label} does not name an item."),
            )),
            Some(id) => {
                if let Some(first) = seen.get(id) {
                    duplicate_problems.push(problem(
                        "VAL-005",
                        format!(
                            "Item {id} is ordered on more than one line ({first} and {label})."
                        ),
                    ));
                } else {
                    seen.insert(id, label.clone());
                }
            }
        }
        match whole_quantity(line.get("quantity")) {
            None => quantity_problems.push(problem(
                "VAL-003",
                format!(
                    "Line {label}: quantity must be a whole number greater than 0, got {}.",
                    line.get("quantity").unwrap_or(&Value::Null)
                ),
            )),
            Some(q) => {
                if let Some(max) = rules.max_quantity
                    && q > max
                {
                    limit_problems.push(problem(
                        "VAL-004",
                        format!("Line {label}: quantity {q} exceeds the maximum of {max}."),
                    ));
                }
            }
        }
    }
    problems.extend(item_problems);
    problems.extend(quantity_problems);
    problems.extend(limit_problems);
    problems.extend(duplicate_problems);

    let missing: Vec<&str> = rules
        .required_parameters
        .iter()
        .map(String::as_str)
        .filter(|id| !has_parameter_value(order, id))
        .collect();
    if !missing.is_empty() {
        problems.push(problem(
            "VAL-006",
            format!(
                "Required ordering parameter{} missing: {}.",
                if missing.len() == 1 { " is" } else { "s are" },
                missing.join(", ")
            ),
        ));
    }
    Ok(problems)
}

/// A quantity that is a JSON number with a whole value > 0 (`2` and `2.0`, not `2.5` or `"2"`).
fn whole_quantity(v: Option<&Value>) -> Option<u64> {
    let n = v?.as_number()?;
    if let Some(q) = n.as_u64() {
        return (q > 0).then_some(q);
    }
    let f = n.as_f64()?;
    (f > 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64).then_some(f as u64)
}

/// How a line is named in messages: its id, else its item's name, else its position.
fn line_label(line: &Value, index: usize) -> String {
    let id = line
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let name = line
        .pointer("/item/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (id, name) {
        (Some(id), Some(name)) => format!("{id} ({name})"),
        (Some(id), None) => id.to_owned(),
        (None, Some(name)) => format!("#{} ({name})", index + 1),
        (None, None) => format!("#{}", index + 1),
    }
}

/// Whether `parameters.ordering` has `external_id` with a non-empty value.
fn has_parameter_value(order: &Value, external_id: &str) -> bool {
    let Some(ordering) = order
        .pointer("/parameters/ordering")
        .and_then(Value::as_array)
    else {
        return false;
    };
    ordering
        .iter()
        .filter(|p| p.get("externalId").and_then(Value::as_str) == Some(external_id))
        .any(|p| match p.get("value") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(_) => true,
        })
}

/// The order with the verdict applied: `error` set from the first problem, or removed.
pub fn with_verdict(order: Value, problems: &[Problem]) -> Value {
    let Value::Object(mut obj) = order else {
        return order;
    };
    match problems.first() {
        None => {
            obj.remove("error");
        }
        Some(first) => {
            let message = match problems.len() - 1 {
                0 => first.message.clone(),
                1 => format!("{} (and 1 more problem)", first.message),
                n => format!("{} (and {n} more problems)", first.message),
            };
            obj.insert(
                "error".to_owned(),
                json!({"id": first.code, "message": message}),
            );
        }
    }
    Value::Object(obj)
}

// The host services are faked by `hookhost_sdk::testing`, which exists on native targets only.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use hookhost_sdk::testing;

    fn order() -> Value {
        json!({
            "id": "ORD-1234-5678",
            "type": "Purchase",
            "status": "Draft",
            "agreement": {"id": "AGR-1"},
            "product": {"id": "PRD-1"},
            "lines": [
                {"id": "ALI-1-0001", "item": {"id": "ITM-1", "name": "Seats"}, "quantity": 10,
                 "price": {"unitPP": 12.5, "currency": "EUR"}},
                {"id": "ALI-1-0002", "item": {"id": "ITM-2", "name": "Support"}, "quantity": 1.0,
                 "price": {"unitPP": 100}}
            ],
            "parameters": {"ordering": [
                {"id": "PAR-1", "externalId": "companyName", "value": "ACME GmbH"},
                {"id": "PAR-2", "externalId": "contactEmail", "value": ""}
            ]}
        })
    }

    fn call(order: &Value) -> Result<Outcome, Failure> {
        let mut inv = testing::invocation("Order", "ORD-1234-5678", &order.to_string());
        inv.event = hookhost_sdk::Event::Validate;
        OrderValidator::handle(inv)
    }

    fn error_of(out: &Outcome) -> Value {
        serde_json::from_str::<Value>(&out.body).unwrap()["error"].clone()
    }

    #[test]
    fn a_valid_order_comes_back_unchanged() {
        testing::reset();
        testing::set_config("required_parameters", "companyName");
        testing::set_config("max_quantity", "10");
        let text = order().to_string();
        let inv = testing::invocation("Order", "", &text);
        let out = OrderValidator::handle(inv).unwrap();
        assert_eq!(out.body, text);
        assert!(out.updates.is_empty());
    }

    #[test]
    fn reports_the_first_problem_with_its_code() {
        testing::reset();
        let mut o = order();
        o["lines"] = json!([]);
        let out = call(&o).unwrap();
        assert_eq!(
            error_of(&out),
            json!({"id": "VAL-001", "message": "The order has no lines."})
        );
        let body: Value = serde_json::from_str(&out.body).unwrap();
        assert_eq!(body["id"], "ORD-1234-5678");
        assert_eq!(body["product"], json!({"id": "PRD-1"}));

        let mut o = order();
        o["lines"][0]["quantity"] = json!(2.5);
        o["lines"][1]["quantity"] = json!(0);
        let e = error_of(&call(&o).unwrap());
        assert_eq!(e["id"], "VAL-003");
        assert_eq!(
            e["message"],
            "Line ALI-1-0001 (Seats): quantity must be a whole number greater than 0, got 2.5. \
             (and 1 more problem)"
        );

        let mut o = order();
        o["lines"][1]["item"]["id"] = json!("ITM-1");
        let e = error_of(&call(&o).unwrap());
        assert_eq!(e["id"], "VAL-005");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("ALI-1-0001 (Seats) and ALI-1-0002")
        );

        let mut o = order();
        o["lines"][0].as_object_mut().unwrap().remove("item");
        o["lines"][1]["quantity"] = json!("1");
        let e = error_of(&call(&o).unwrap());
        assert_eq!(e["id"], "VAL-002");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .ends_with("(and 1 more problem)")
        );
    }

    #[test]
    fn configured_rules() {
        testing::reset();
        testing::set_config("max_quantity", "5");
        let e = error_of(&call(&order()).unwrap());
        assert_eq!(e["id"], "VAL-004");
        assert_eq!(
            e["message"],
            "Line ALI-1-0001 (Seats): quantity 10 exceeds the maximum of 5."
        );

        testing::reset();
        testing::set_config("required_parameters", "companyName, contactEmail,vatId");
        let e = error_of(&call(&order()).unwrap());
        assert_eq!(e["id"], "VAL-006");
        assert_eq!(
            e["message"],
            "Required ordering parameters are missing: contactEmail, vatId."
        );

        testing::set_config("max_quantity", "many");
        let err = call(&order()).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("max_quantity"));
    }

    #[test]
    fn a_stale_error_is_cleared_when_the_order_is_fixed() {
        testing::reset();
        let mut o = order();
        o["error"] = json!({"id": "VAL-001", "message": "old"});
        let body: Value = serde_json::from_str(&call(&o).unwrap().body).unwrap();
        assert!(body.get("error").is_none());
        assert_eq!(body, order());
    }

    #[test]
    fn non_orders_are_invalid_input() {
        testing::reset();
        for payload in [
            json!([1]),
            json!("ORD-1"),
            json!({"foo": 1}),
            json!({"id": "ORD-1", "lines": {}}),
        ] {
            assert_eq!(
                call(&payload).unwrap_err().kind(),
                "invalid-input",
                "{payload}"
            );
        }
        let inv = testing::invocation("Order", "", "<order/>");
        assert_eq!(
            OrderValidator::handle(inv).unwrap_err().kind(),
            "invalid-input"
        );
    }
}
