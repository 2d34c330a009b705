//! # valuation: a property valuation webhook for the `estate` module
//!
//! When an estate record is saved, onOffice-style clients call `executeMarketplaceWebhooks`
//! and this plugin re-computes the record's market value (`marktwert`), like the Sprengnetter
//! valuation the marketplace documentation describes. It writes the value back only when the
//! inputs of the valuation changed since it last valued that record, so saving an unrelated
//! field does not produce a new valuation date.
//!
//! ## Payload
//! The estate record as a JSON object, either flat or wrapped as `{"elements": {…}}` (the shape
//! of an onOffice record):
//!
//! | field | meaning | required |
//! |---|---|---|
//! | `kaufpreis` | asking price, EUR | yes, > 0 |
//! | `wohnflaeche` | living area, m² | yes, > 0 |
//! | `plz` | postcode: selects the price per m² | no |
//! | `ort` | city (only reported in the log) | no |
//! | `baujahr` | year built | no |
//! | `zustand` | condition (`erstbezug`, `gepflegt`, `sanierungsbeduerftig`, …) | no |
//!
//! Numbers may be JSON numbers or strings such as `"350000.00"`, `"350.000,00"` or `"95,5"`.
//!
//! ## Configuration (activation parameters)
//! - `price_per_sqm.<plz>`: EUR per m² for that postcode; else `price_per_sqm.default`; else
//!   the built-in table ([`builtin_price_per_sqm`]).
//! - `asking_price_weight`: how much the asking price counts, 0…1 (default
//!   [`DEFAULT_ASKING_PRICE_WEIGHT`]).
//!
//! ## Method
//! `model = wohnflaeche × price per m² × age factor × condition factor`, then
//! `marktwert = (1 − w) × model + w × kaufpreis`, rounded to whole euros. The factors are in
//! [`age_factor`] and [`condition_factor`].
//!
//! ## Outcome
//! Body `{"recordId","marketValue","pricePerSqm","priceSource","changed"}`. When the inputs
//! changed (or were never seen): updates `marktwert` (number) and `marktwert_datum` (today,
//! `"YYYY-MM-DD"`), and the inputs are stored under the kv key `inputs/<recordId>`. Otherwise
//! no updates and `"changed": false, "unchanged": true`. A retry of the delivery that stored
//! the inputs returns the same updates again, so a write-back lost on the way is repeated.
//!
//! Missing or invalid `kaufpreis` / `wohnflaeche`, or a payload that is not a JSON object:
//! `invalid-input`. An invalid price configuration: `rejected` naming the key.

use hookhost_sdk::{Failure, Handler, Invocation, Outcome, config, kv, time};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How much the asking price counts in the blend when `asking_price_weight` is not set.
///
/// The asking price carries the seller's knowledge of the object that no formula sees, but it
/// is also the number the valuation is supposed to check, so the model gets most of the weight.
pub const DEFAULT_ASKING_PRICE_WEIGHT: f64 = 0.3;

/// The plugin.
pub struct Valuation;

impl Handler for Valuation {
    fn handle(inv: Invocation) -> Result<Outcome, Failure> {
        run(&inv)
    }
}

hookhost_sdk::export!(Valuation);

/// The estate fields the valuation reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Estate {
    /// Asking price, EUR.
    pub kaufpreis: f64,
    /// Living area, m².
    pub wohnflaeche: f64,
    /// Postcode, trimmed (empty when unknown).
    pub plz: String,
    /// City, trimmed (empty when unknown).
    pub ort: String,
    /// Year built, when given and plausible.
    pub baujahr: Option<i64>,
    /// Condition as given, trimmed (empty when unknown).
    pub zustand: String,
}

/// Everything the result depends on: when this is unchanged, so is the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    /// Asking price, EUR.
    pub purchase_price: f64,
    /// Living area, m².
    pub living_area: f64,
    /// Postcode.
    pub postcode: String,
    /// Year built.
    pub year_built: Option<i64>,
    /// Condition.
    pub condition: String,
    /// EUR per m² for the location (from configuration or the built-in table).
    pub price_per_sqm: f64,
    /// Weight of the asking price in the blend.
    pub asking_price_weight: f64,
}

/// What is kept in the store per record between calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    inputs: Inputs,
    market_value: i64,
    date: String,
    delivery_id: String,
}

fn run(inv: &Invocation) -> Result<Outcome, Failure> {
    let record = inv.payload_json()?;
    let estate = parse_estate(&record)?;
    let (price_per_sqm, source) = location_price(&estate.plz)?;
    let weight = match config::parse::<f64>("asking_price_weight")? {
        None => DEFAULT_ASKING_PRICE_WEIGHT,
        Some(w) if (0.0..=1.0).contains(&w) => w,
        Some(w) => {
            return Err(Failure::rejected(format!(
                "invalid configuration `asking_price_weight` = {w}: must be between 0 and 1"
            )));
        }
    };
    let inputs = Inputs {
        purchase_price: estate.kaufpreis,
        living_area: estate.wohnflaeche,
        postcode: estate.plz.clone(),
        year_built: estate.baujahr,
        condition: estate.zustand.clone(),
        price_per_sqm,
        asking_price_weight: weight,
    };

    let key = format!("inputs/{}", inv.record_id);
    let previous = if inv.record_id.is_empty() {
        None
    } else {
        match kv::get_json::<Stored>(&key) {
            Ok(stored) => stored,
            Err(e) => {
                hookhost_sdk::warn!("ignoring the stored valuation inputs: {e}");
                None
            }
        }
    };
    if let Some(prev) = &previous
        && prev.inputs == inputs
        && prev.delivery_id != inv.delivery_id
    {
        hookhost_sdk::info!(
            "record {}: inputs unchanged since {}, market value stays {} EUR",
            inv.record_id,
            prev.date,
            prev.market_value
        );
        return Outcome::json(&json!({
            "recordId": inv.record_id,
            "marketValue": prev.market_value,
            "pricePerSqm": price_per_sqm,
            "priceSource": source,
            "changed": false,
            "unchanged": true,
        }));
    }

    let now = time::now_unix_seconds();
    let cond = condition_factor(&estate.zustand).unwrap_or_else(|| {
        hookhost_sdk::warn!("unknown zustand {:?}: valued as well kept", estate.zustand);
        1.0
    });
    let value = market_value(&inputs, time::year(now), cond);
    // A retry of the delivery that computed the value repeats it exactly, date included.
    let (value, date) = match previous {
        Some(prev) if prev.delivery_id == inv.delivery_id && prev.inputs == inputs => {
            (prev.market_value, prev.date)
        }
        _ => (value, time::iso_date(now)),
    };
    hookhost_sdk::info!(
        "record {} ({} {}): {} m² × {} EUR/m² ({}) → market value {} EUR",
        inv.record_id,
        estate.plz,
        estate.ort,
        estate.wohnflaeche,
        price_per_sqm,
        source,
        value
    );
    if !inv.record_id.is_empty() {
        let stored = Stored {
            inputs,
            market_value: value,
            date: date.clone(),
            delivery_id: inv.delivery_id.clone(),
        };
        if let Err(e) = kv::set_json(&key, &stored) {
            // Without the stored inputs the next call values again: harmless, so carry on.
            hookhost_sdk::warn!("cannot remember the valuation inputs: {e}");
        }
    }
    Outcome::json(&json!({
        "recordId": inv.record_id,
        "marketValue": value,
        "pricePerSqm": price_per_sqm,
        "priceSource": source,
        "changed": true,
    }))?
    .with_update("marktwert", &value)?
    .with_update("marktwert_datum", &date)
}

/// Reads the valuation's fields from an estate record (flat or `{"elements": {…}}`).
pub fn parse_estate(record: &Value) -> Result<Estate, Failure> {
    let fields: &Map<String, Value> = match record {
        Value::Object(o) => match o.get("elements") {
            Some(Value::Object(inner)) => inner,
            _ => o,
        },
        _ => {
            return Err(Failure::invalid_input(
                "payload must be an estate record (a JSON object)",
            ));
        }
    };
    let positive = |name: &str, what: &str| -> Result<f64, Failure> {
        match fields.get(name) {
            None | Some(Value::Null) => Err(Failure::invalid_input(format!(
                "estate has no `{name}` ({what}): it is needed for a valuation"
            ))),
            Some(v) => match parse_number(v) {
                Some(n) if n > 0.0 && n.is_finite() => Ok(n),
                _ => Err(Failure::invalid_input(format!(
                    "`{name}` ({what}) must be a positive number, got {v}"
                ))),
            },
        }
    };
    let kaufpreis = positive("kaufpreis", "purchase price")?;
    let wohnflaeche = positive("wohnflaeche", "living area")?;
    let text = |name: &str| -> String {
        match fields.get(name) {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    let baujahr = match fields.get("baujahr") {
        None | Some(Value::Null) => None,
        Some(v) => match parse_number(v) {
            Some(y) if y.fract() == 0.0 && (1000.0..=3000.0).contains(&y) => Some(y as i64),
            Some(0.0) => None,
            _ => {
                hookhost_sdk::warn!("ignoring implausible baujahr {v}");
                None
            }
        },
    };
    Ok(Estate {
        kaufpreis,
        wohnflaeche,
        plz: text("plz"),
        ort: text("ort"),
        baujahr,
        zustand: text("zustand"),
    })
}

/// A number from a JSON number or a numeric string.
///
/// Strings may use `.` or `,` as decimal separator and the other one for thousands
/// (`"350.000,50"`, `"350,000.50"`). With only one kind of separator, it separates thousands
/// when it occurs more than once or is followed by exactly three digits (`"1.250.000"`,
/// `"350.000"`: prices are written that way far more often than with three decimals), and is
/// the decimal separator otherwise (`"95,5"`, `"95.50"`). Spaces, `€` and `EUR` are ignored.
pub fn parse_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s: String = s
                .replace("EUR", "")
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '€')
                .collect();
            if s.is_empty() {
                return None;
            }
            let thousands = |sep: char| {
                let tail = s.rsplit(sep).next().unwrap_or_default();
                s.matches(sep).count() > 1 || tail.len() == 3
            };
            let normalized = match (s.rfind(','), s.rfind('.')) {
                (Some(c), Some(d)) if c > d => s.replace('.', "").replace(',', "."),
                (Some(_), Some(_)) => s.replace(',', ""),
                (Some(_), None) if thousands(',') => s.replace(',', ""),
                (Some(_), None) => s.replace(',', "."),
                (None, Some(_)) if thousands('.') => s.replace('.', ""),
                _ => s,
            };
            normalized.parse().ok().filter(|n: &f64| n.is_finite())
        }
        _ => None,
    }
}

/// EUR per m² for `plz`, and where it came from (`config:price_per_sqm.<plz>`,
/// `config:price_per_sqm.default` or `builtin`).
fn location_price(plz: &str) -> Result<(f64, String), Failure> {
    let mut keys = Vec::with_capacity(2);
    if !plz.is_empty() {
        keys.push(format!("price_per_sqm.{plz}"));
    }
    keys.push("price_per_sqm.default".to_owned());
    for key in keys {
        if let Some(price) = config::parse::<f64>(&key)? {
            if price > 0.0 && price.is_finite() {
                return Ok((price, format!("config:{key}")));
            }
            return Err(Failure::rejected(format!(
                "invalid configuration `{key}` = {price}: must be a positive number"
            )));
        }
    }
    Ok((builtin_price_per_sqm(plz), "builtin".to_owned()))
}

/// Built-in EUR per m² by German postcode prefix.
///
/// Rough, illustrative figures for existing flats (big-city areas by two-digit prefix, the rest
/// by postcode zone), so the plugin gives plausible numbers out of the box. They are *not*
/// market data: a real deployment sets `price_per_sqm.*` in the activation.
pub fn builtin_price_per_sqm(plz: &str) -> f64 {
    const BY_TWO_DIGITS: &[(&str, f64)] = &[
        ("01", 3_100.0), // Dresden
        ("04", 3_000.0), // Leipzig
        ("10", 5_300.0), // Berlin (centre)
        ("12", 4_600.0), // Berlin (south-east)
        ("13", 4_300.0), // Berlin (north)
        ("14", 4_500.0), // Berlin (west), Potsdam
        ("20", 6_300.0), // Hamburg (centre)
        ("22", 5_900.0), // Hamburg
        ("28", 3_200.0), // Bremen
        ("30", 3_600.0), // Hannover
        ("40", 4_700.0), // Düsseldorf
        ("50", 4_900.0), // Köln
        ("51", 4_200.0), // Köln (east), Leverkusen
        ("52", 3_200.0), // Aachen
        ("53", 3_900.0), // Bonn
        ("60", 6_200.0), // Frankfurt am Main
        ("61", 4_800.0), // Taunus
        ("65", 4_700.0), // Wiesbaden
        ("69", 4_700.0), // Heidelberg, Mannheim
        ("70", 5_600.0), // Stuttgart
        ("71", 4_600.0), // Stuttgart region
        ("79", 5_100.0), // Freiburg
        ("80", 9_800.0), // München (centre)
        ("81", 9_300.0), // München
        ("82", 7_400.0), // München (south-west)
        ("85", 6_000.0), // München (north)
        ("90", 4_300.0), // Nürnberg
    ];
    /// By first digit (postcode zone 0 … 9).
    const BY_ZONE: [f64; 10] = [
        2_300.0, 3_000.0, 3_300.0, 2_300.0, 2_600.0, 2_800.0, 3_300.0, 3_500.0, 4_600.0, 2_400.0,
    ];
    /// Anything that is not a German postcode.
    const FALLBACK: f64 = 3_000.0;

    let plz = plz.trim();
    if plz.len() != 5 || !plz.bytes().all(|b| b.is_ascii_digit()) {
        return FALLBACK;
    }
    if let Some((_, price)) = BY_TWO_DIGITS.iter().find(|(p, _)| plz.starts_with(p)) {
        return *price;
    }
    BY_ZONE[usize::from(plz.as_bytes()[0] - b'0')]
}

/// Value factor for a building's age (`current_year − baujahr`).
///
/// New buildings sell at a premium, value falls over the first decades and levels off for old
/// buildings (which are often modernised). Unknown year: 1.0.
pub fn age_factor(baujahr: Option<i64>, current_year: i64) -> f64 {
    let Some(built) = baujahr else {
        return 1.0;
    };
    match current_year - built {
        ..=2 => 1.10,
        3..=10 => 1.05,
        11..=25 => 1.00,
        26..=50 => 0.93,
        _ => 0.88,
    }
}

/// Value factor for the onOffice `zustand` (condition) value; `None` when it is not known.
///
/// Matched on the normalised text (lower case, umlauts spelled out), so `"Sanierungsbedürftig"`,
/// `"sanierungsbeduerftig"` and `"teil_sanierungsbed"` all mean "needs refurbishment".
/// An empty value is 1.0 (assumed well kept).
pub fn condition_factor(zustand: &str) -> Option<f64> {
    let z = zustand
        .trim()
        .to_lowercase()
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('ß', "ss");
    let has = |s: &str| z.contains(s);
    let factor = if z.is_empty() || has("gepflegt") || has("nach_vereinbarung") {
        1.00
    } else if has("abbruch") || has("baufaellig") {
        0.50
    } else if has("sanierungsbed") {
        0.80
    } else if has("renovierungsbed") || has("modernisierungsbed") {
        0.88
    } else if has("rohbau") {
        0.90
    } else if has("erstbezug") && has("sanierung") {
        1.06
    } else if has("erstbezug") || has("neuwertig") || has("neubau") || has("projektiert") {
        1.08
    } else if has("saniert") || has("renoviert") || has("modernisiert") {
        1.04
    } else {
        return None;
    };
    Some(factor)
}

/// The market value in whole euros (see the crate docs for the formula).
pub fn market_value(inputs: &Inputs, current_year: i64, condition: f64) -> i64 {
    let model = inputs.living_area
        * inputs.price_per_sqm
        * age_factor(inputs.year_built, current_year)
        * condition;
    let w = inputs.asking_price_weight;
    ((1.0 - w) * model + w * inputs.purchase_price).round() as i64
}

// The host services are faked by `hookhost_sdk::testing`, which exists on native targets only.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use hookhost_sdk::testing;

    const NOV_2023: i64 = 1_700_000_000;

    fn call(record_id: &str, delivery: &str, payload: Value) -> Result<Outcome, Failure> {
        let mut inv = testing::invocation("estate", record_id, &payload.to_string());
        inv.delivery_id = delivery.to_owned();
        Valuation::handle(inv)
    }

    fn body(o: &Outcome) -> Value {
        serde_json::from_str(&o.body).unwrap()
    }

    #[test]
    fn numbers_in_many_spellings() {
        let n = |s: &str| parse_number(&Value::String(s.into()));
        assert_eq!(n("350000"), Some(350_000.0));
        assert_eq!(n("350000.50"), Some(350_000.5));
        assert_eq!(n("350.000,50"), Some(350_000.5));
        assert_eq!(n("350,000.50"), Some(350_000.5));
        assert_eq!(n("1.250.000"), Some(1_250_000.0));
        assert_eq!(n("95,5"), Some(95.5));
        assert_eq!(n("350.000 €"), Some(350_000.0));
        assert_eq!(n("350,000"), Some(350_000.0));
        assert_eq!(n("95.50"), Some(95.5));
        assert_eq!(n("1,5"), Some(1.5));
        assert_eq!(n("EUR 1.200.000,00"), Some(1_200_000.0));
        assert_eq!(n("abc"), None);
        assert_eq!(n(""), None);
        assert_eq!(parse_number(&json!(12.5)), Some(12.5));
        assert_eq!(parse_number(&json!(true)), None);
    }

    #[test]
    fn builtin_table() {
        assert_eq!(builtin_price_per_sqm("80331"), 9_800.0);
        assert_eq!(builtin_price_per_sqm("52062"), 3_200.0);
        assert_eq!(builtin_price_per_sqm("99084"), 2_400.0);
        assert_eq!(builtin_price_per_sqm(" 03046 "), 2_300.0);
        assert_eq!(builtin_price_per_sqm("1010"), 3_000.0);
        assert_eq!(builtin_price_per_sqm("A-1010"), 3_000.0);
    }

    #[test]
    fn factors() {
        assert_eq!(age_factor(None, 2025), 1.0);
        assert_eq!(age_factor(Some(2026), 2025), 1.10);
        assert_eq!(age_factor(Some(2018), 2025), 1.05);
        assert_eq!(age_factor(Some(1990), 2025), 0.93);
        assert_eq!(age_factor(Some(1900), 2025), 0.88);
        assert_eq!(condition_factor(""), Some(1.0));
        assert_eq!(condition_factor("Sanierungsbedürftig"), Some(0.80));
        assert_eq!(condition_factor("teil_vollrenovierungsbed"), Some(0.88));
        assert_eq!(condition_factor("erstbezug_nach_sanierung"), Some(1.06));
        assert_eq!(condition_factor("Erstbezug"), Some(1.08));
        assert_eq!(condition_factor("modernisiert"), Some(1.04));
        assert_eq!(condition_factor("gepflegt"), Some(1.0));
        assert_eq!(condition_factor("wunderschön"), None);
    }

    #[test]
    fn formula() {
        let inputs = Inputs {
            purchase_price: 400_000.0,
            living_area: 100.0,
            postcode: "52062".into(),
            year_built: Some(2000),
            condition: "gepflegt".into(),
            price_per_sqm: 3_000.0,
            asking_price_weight: 0.3,
        };
        // model = 100 × 3000 × 1.0 (age 23) × 1.0 = 300000; 0.7 × 300000 + 0.3 × 400000
        assert_eq!(market_value(&inputs, 2023, 1.0), 330_000);
        assert_eq!(market_value(&inputs, 2023, 0.8), 288_000);
    }

    #[test]
    fn values_then_skips_unchanged_inputs() {
        testing::reset();
        testing::set_now(NOV_2023);
        let record = json!({"kaufpreis": "400.000,00", "wohnflaeche": 100, "plz": "52062",
                            "ort": "Aachen", "baujahr": 2000, "zustand": "gepflegt"});

        let first = call("15", "d1", record.clone()).unwrap();
        assert_eq!(
            body(&first),
            json!({"recordId":"15","marketValue":344_000,"pricePerSqm":3200.0,
                   "priceSource":"builtin","changed":true})
        );
        let updates: Vec<_> = first
            .updates
            .iter()
            .map(|u| (u.field.as_str(), u.value.as_str()))
            .collect();
        assert_eq!(
            updates,
            vec![
                ("marktwert", "344000"),
                ("marktwert_datum", "\"2023-11-14\"")
            ]
        );
        assert!(testing::kv_snapshot().contains_key("inputs/15"));

        // Another save with the same inputs: nothing to write.
        let second = call("15", "d2", record.clone()).unwrap();
        assert!(second.updates.is_empty());
        let b = body(&second);
        assert_eq!(b["unchanged"], true);
        assert_eq!(b["changed"], false);
        assert_eq!(b["marketValue"], 344_000);

        // A retry of the first delivery repeats its updates.
        testing::set_now(NOV_2023 + 86_400);
        let retry = call("15", "d1", record.clone()).unwrap();
        assert_eq!(retry.updates, first.updates);

        // A changed price is valued again.
        let mut changed = record.clone();
        changed["kaufpreis"] = json!(500_000);
        let third = call("15", "d3", changed).unwrap();
        assert_eq!(body(&third)["changed"], true);
        assert_eq!(third.updates[0].value, "374000");
        assert_eq!(third.updates[1].value, "\"2023-11-15\"");

        // Other records are independent.
        assert_eq!(body(&call("16", "d4", record).unwrap())["changed"], true);
    }

    #[test]
    fn configuration_overrides_the_table_and_counts_as_input() {
        testing::reset();
        testing::set_now(NOV_2023);
        let record = json!({"elements": {"kaufpreis": 300000, "wohnflaeche": "80",
                                         "plz": "80331"}});
        testing::set_config("price_per_sqm.default", "4000");
        let a = call("1", "d1", record.clone()).unwrap();
        assert_eq!(body(&a)["priceSource"], "config:price_per_sqm.default");
        assert_eq!(body(&a)["pricePerSqm"], 4000.0);

        testing::set_config("price_per_sqm.80331", "10000");
        testing::set_config("asking_price_weight", "0");
        let b = call("1", "d2", record.clone()).unwrap();
        assert_eq!(body(&b)["priceSource"], "config:price_per_sqm.80331");
        assert_eq!(body(&b)["changed"], true);
        assert_eq!(b.updates[0].value, "800000");

        testing::set_config("asking_price_weight", "2");
        let err = call("1", "d3", record.clone()).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("asking_price_weight"));
        testing::set_config("asking_price_weight", "0.5");
        testing::set_config("price_per_sqm.80331", "cheap");
        let err = call("1", "d3", record).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("price_per_sqm.80331"));
    }

    #[test]
    fn missing_or_invalid_price_and_area_are_invalid_input() {
        testing::reset();
        for payload in [
            json!({"wohnflaeche": 80}),
            json!({"kaufpreis": 0, "wohnflaeche": 80}),
            json!({"kaufpreis": "n/a", "wohnflaeche": 80}),
            json!({"kaufpreis": 100000}),
            json!({"kaufpreis": 100000, "wohnflaeche": -3}),
            json!([1, 2]),
        ] {
            let err = call("1", "d", payload.clone()).unwrap_err();
            assert_eq!(err.kind(), "invalid-input", "{payload}");
        }
        let err = call("1", "d", json!({"wohnflaeche": 80})).unwrap_err();
        assert!(err.reason().contains("kaufpreis"));
        let mut inv = testing::invocation("estate", "1", "not json");
        inv.delivery_id = "d".into();
        assert_eq!(Valuation::handle(inv).unwrap_err().kind(), "invalid-input");
    }

    #[test]
    fn no_record_id_values_without_remembering() {
        testing::reset();
        let out = call("", "d", json!({"kaufpreis": 1, "wohnflaeche": 1})).unwrap();
        assert_eq!(body(&out)["changed"], true);
        assert!(testing::kv_snapshot().is_empty());
    }
}
