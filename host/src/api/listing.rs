//! The query string of every list endpoint: RQL filters, `order`, `select`, `offset` and
//! `limit` ([`crate::rql`]), read once for all lists and refused as problem documents whose
//! `errors` are keyed by the query parameter or field (`limit`, `order`, `select`,
//! `description`, or a malformed filter expression as it was sent).
//!
//! The filter and order are checked against the list's fields ([`crate::store::lists`]) and
//! run in SQL; `select` shapes the page's items here:
//! - `-path` drops a property, or a property inside one (`-audit.updated`);
//! - `+path` (or `path`) keeps only the properties named, and inside them only the named
//!   part (`+id,+audit.created`), less what a `-path` drops;
//! - the first name of every path must be a property of the list's items; anything deeper
//!   that an item does not have is ignored.

use super::problem::Problem;
use crate::rql::{self, Query};
use crate::store::{Fields, Listing};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::{Map, Value};

/// A list endpoint's query string, read but not yet checked against the list.
#[derive(Debug, Clone)]
pub struct ListQuery(pub Query);

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        rql::parse_query(parts.uri.query().unwrap_or(""))
            .map(ListQuery)
            .map_err(refused)
    }
}

impl ListQuery {
    /// The filter and order, checked against the list's `fields`.
    pub fn listing<L>(&self, fields: &'static Fields<L>) -> Result<Listing<L>, Problem> {
        Listing::new(fields, self.0.filter.as_ref(), &self.0.order).map_err(refused)
    }

    /// `offset=` as given.
    pub fn offset(&self) -> Option<&str> {
        self.0.offset.as_deref()
    }

    /// `limit=` as given.
    pub fn limit(&self) -> Option<&str> {
        self.0.limit.as_deref()
    }

    /// `(offset, limit)`: `default_limit` items unless asked otherwise, at least `min_limit`
    /// and at most 1000 (as [`super::check_page`]).
    pub fn page(&self, default_limit: i64, min_limit: i64) -> Result<(i64, i64), Problem> {
        let number = |key: &str, text: Option<&str>| {
            text.map(|text| {
                text.trim().parse::<i64>().map_err(|_| {
                    Problem::invalid(key, format!("must be a whole number, got {text:?}"))
                })
            })
            .transpose()
        };
        let offset = number("offset", self.offset())?;
        let limit = number("limit", self.limit())?;
        super::check_page(offset, limit, default_limit, min_limit)
    }

    /// What `select=` keeps of each item, its paths checked against the items' `properties`.
    pub fn select(&self, properties: &[&str]) -> Result<Select, Problem> {
        let mut select = Select::default();
        for selector in &self.0.select {
            let path: Vec<String> = selector.path.split('.').map(str::to_owned).collect();
            if !properties.contains(&path[0].as_str()) {
                return Err(Problem::invalid(
                    "select",
                    format!(
                        "{} is not a property of this list's items; they have {}",
                        path[0],
                        properties.join(", ")
                    ),
                ));
            }
            if selector.exclude {
                select.drop.push(path);
            } else {
                select.keep.push(path);
            }
        }
        Ok(select)
    }
}

/// What `select=` keeps of each item (see the module's documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Select {
    keep: Vec<Vec<String>>,
    drop: Vec<Vec<String>>,
}

impl Select {
    /// Whether items stay as they are.
    pub fn keeps_everything(&self) -> bool {
        self.keep.is_empty() && self.drop.is_empty()
    }

    /// `item` as selected.
    pub fn apply(&self, mut item: Value) -> Value {
        if !self.keep.is_empty() {
            let paths: Vec<&[String]> = self.keep.iter().map(Vec::as_slice).collect();
            item = keep(item, &paths);
        }
        for path in &self.drop {
            remove(&mut item, path);
        }
        item
    }
}

/// `value` with only the parts `paths` name (an empty path names all of it).
fn keep(value: Value, paths: &[&[String]]) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    let mut kept = Map::new();
    for (key, value) in map {
        let inside: Vec<&[String]> = paths
            .iter()
            .filter(|path| path[0] == key)
            .map(|path| &path[1..])
            .collect();
        if inside.is_empty() {
            continue;
        }
        let value = if inside.iter().any(|path| path.is_empty()) {
            value
        } else {
            keep(value, &inside)
        };
        kept.insert(key, value);
    }
    Value::Object(kept)
}

fn remove(value: &mut Value, path: &[String]) {
    let Value::Object(map) = value else {
        return;
    };
    match path {
        [] => {}
        [last] => {
            map.shift_remove(last);
        }
        [first, rest @ ..] => {
            if let Some(inner) = map.get_mut(first) {
                remove(inner, rest);
            }
        }
    }
}

/// A page in the list envelope, its items shaped by `select`.
pub fn page<T: Serialize>(
    offset: i64,
    limit: i64,
    total: i64,
    items: impl IntoIterator<Item = T>,
    select: &Select,
) -> Result<axum::Json<Value>, Problem> {
    let data = items
        .into_iter()
        .map(|item| serde_json::to_value(item).map(|item| select.apply(item)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Problem::internal("rendering a page", e))?;
    Ok(super::paged(offset, limit, total, data))
}

/// A 400 naming every refused parameter or field.
pub fn refused(errors: Vec<rql::Error>) -> Problem {
    let detail: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let mut problem = Problem::bad_request(detail.join("; "));
    for error in errors {
        problem
            .errors
            .entry(error.key)
            .or_default()
            .push(error.message);
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select(query: &str) -> Select {
        ListQuery(rql::parse_query(query).unwrap())
            .select(&["id", "audit", "statistics", "name"])
            .unwrap()
    }

    #[test]
    fn select_keeps_and_drops_paths_in_order() {
        let item = json!({
            "id": "A", "name": "n",
            "audit": {"created": {"at": "t1"}, "updated": {"at": "t2"}},
            "statistics": {"total": 1}
        });
        assert!(select("").keeps_everything());
        assert_eq!(select("").apply(item.clone()), item);
        assert_eq!(
            select("select=-statistics,-audit.updated").apply(item.clone()),
            json!({"id": "A", "name": "n", "audit": {"created": {"at": "t1"}}})
        );
        assert_eq!(
            select("select=+audit.created.at,id").apply(item.clone()),
            json!({"id": "A", "audit": {"created": {"at": "t1"}}})
        );
        assert_eq!(
            select("select=+audit,-audit.created,+statistics.nope").apply(item.clone()),
            json!({"audit": {"updated": {"at": "t2"}}, "statistics": {}})
        );
        let refused = ListQuery(rql::parse_query("select=-colour").unwrap())
            .select(&["id"])
            .unwrap_err();
        assert!(
            refused.errors["select"][0].contains("colour"),
            "{refused:?}"
        );
    }

    #[test]
    fn pages_are_numbers_in_their_range() {
        let page = |query: &str| ListQuery(rql::parse_query(query).unwrap()).page(100, 1);
        assert_eq!(page("").unwrap(), (0, 100));
        assert_eq!(page("offset=5&limit=%201").unwrap(), (5, 1));
        for (query, key) in [
            ("limit=x", "limit"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("offset=-1", "offset"),
        ] {
            assert!(page(query).unwrap_err().errors.contains_key(key), "{query}");
        }
    }
}
