//! Filtering and ordering a list in SQL: an RQL filter and order ([`crate::rql`]) checked
//! against the list's [`Fields`] into a [`Listing`], then rendered for one backend as a
//! condition and an `ORDER BY` with `$n` placeholders.
//!
//! No text of a request ever becomes SQL: a field path is looked up in the list's whitelist,
//! which maps it to a column expression written in [`super::lists`], and every value is
//! bound. The list functions AND the condition with the caller's scope condition, so a filter
//! only ever narrows what the caller sees.
//!
//! What a filter means, the same on SQLite, on PostgreSQL and in the tests' evaluation in
//! memory:
//! - Two-valued logic. A comparison with a field that has no value is false (`eq`, `lt`,
//!   `like`, `in`, …); `ne`, `out` and `not` are the negations, so `ne(type,validateRequest)`
//!   includes webhooks without a type. `eq(f,null())` asks for no value, `ne(f,null())` for
//!   one; `null()` may also be listed in `in`/`out`.
//! - Values are read by the field's [`Kind`]: whole numbers, `true`/`false`, RFC 3339 times
//!   (compared as instants, to the millisecond), words of a closed set (any ASCII case,
//!   refused when not one of them), or text.
//! - Text compares by code point (PostgreSQL with `COLLATE "C"`); `like` is case-sensitive
//!   (a `GLOB` on SQLite, whose `LIKE` ignores case), `ilike` folds ASCII letters only (as
//!   SQLite's `LOWER` and PostgreSQL's under `"C"` do). `*` is the wildcard; `%` and `_` are
//!   plain characters.
//! - In an order, "no value" sorts before every value (first ascending, last descending);
//!   after the requested keys the list's own order breaks ties, so pages are slices of one
//!   order.

use super::Backend;
use crate::rql::{self, Filter, Op, OrderKey, Pattern, Piece, SetOp, Value};
use crate::time::format_ms;
use std::fmt::Write as _;
use std::marker::PhantomData;

/// What the text of a field's values means.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Text, compared by code point.
    Text,
    /// One of a closed set of words (a [`crate::vocab`] enum's `NAMES`): values are matched
    /// ignoring ASCII case and refused when they are none of them.
    Word(&'static [&'static str]),
    /// A whole number.
    Int,
    /// `true` or `false`, stored as 1 and 0.
    Bool,
    /// A time: RFC 3339 in the API, Unix milliseconds in the column.
    Time,
    /// A time kept as the text [`format_ms`] writes (inside stored JSON): RFC 3339 in the
    /// API, normalised to that text, which sorts as the instants do.
    TimeText,
}

impl Kind {
    fn is_text(self) -> bool {
        matches!(self, Kind::Text | Kind::Word(_) | Kind::TimeText)
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Text | Kind::Word(_) => "text",
            Kind::Int => "a number",
            Kind::Bool => "true or false",
            Kind::Time | Kind::TimeText => "a time",
        }
    }
}

/// A field a list filters and orders by: its path in the API's JSON, the SQL expression it
/// stands for on each backend, its kind and whether it may have no value.
#[derive(Debug)]
pub struct Field {
    /// The API's path (`service.id`, `audit.created.at`).
    pub path: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    kind: Kind,
    nullable: bool,
    /// No two rows share a value: nothing after it in an order can break a tie.
    unique: bool,
}

impl Field {
    /// `path` stands for `column` (an SQL expression of the list's query) on both backends.
    pub const fn new(path: &'static str, column: &'static str, kind: Kind) -> Field {
        Field {
            path,
            sqlite: column,
            postgres: column,
            kind,
            nullable: false,
            unique: false,
        }
    }

    /// No two rows of the list have the same value (an id). An order by it needs no
    /// tie-breaker, which lets the database read it from an index (`order=-id` of a call log
    /// of 100,000 calls reads 50 index entries instead of sorting them all).
    pub const fn unique(self) -> Field {
        Field {
            unique: true,
            ..self
        }
    }

    /// The column may be NULL (the field has no value).
    pub const fn nullable(self) -> Field {
        Field {
            nullable: true,
            ..self
        }
    }

    /// On PostgreSQL the field is `column` instead (e.g. reading stored JSON).
    pub const fn on_postgres(self, column: &'static str) -> Field {
        Field {
            postgres: column,
            ..self
        }
    }
}

/// The whitelist of one list (`L` marks which): the fields it filters and orders by, and its
/// own order.
pub struct Fields<L> {
    fields: &'static [Field],
    /// Paths refused here although the list has them, and why.
    withheld: &'static [&'static str],
    why_withheld: &'static str,
    /// The list's own `ORDER BY`, also the tie-breaker of a requested order.
    order: &'static str,
    /// The same on PostgreSQL, where it differs (text in code-point order).
    postgres_order: Option<&'static str>,
    list: PhantomData<fn() -> L>,
}

impl<L> Fields<L> {
    /// A list of `fields`, ordered by `order` unless asked otherwise.
    pub const fn new(fields: &'static [Field], order: &'static str) -> Self {
        Fields {
            fields,
            withheld: &[],
            why_withheld: "",
            order,
            postgres_order: None,
            list: PhantomData,
        }
    }

    /// The same list, whose own order is spelled `order` on PostgreSQL.
    pub const fn ordered_on_postgres(self, order: &'static str) -> Self {
        Fields {
            postgres_order: Some(order),
            ..self
        }
    }

    /// The same list with `paths` refused, saying `why`.
    pub const fn withholding(self, paths: &'static [&'static str], why: &'static str) -> Self {
        Fields {
            withheld: paths,
            why_withheld: why,
            ..self
        }
    }

    /// The paths that may be used.
    pub fn paths(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .map(|f| f.path)
            .filter(|path| !self.withheld.contains(path))
            .collect()
    }

    fn field(&'static self, path: &str) -> Result<&'static Field, rql::Error> {
        if self.withheld.contains(&path) {
            return Err(rql::Error::new(path, self.why_withheld));
        }
        self.fields.iter().find(|f| f.path == path).ok_or_else(|| {
            rql::Error::new(
                path,
                format!(
                    "is not a field of this list; it filters and orders by {}",
                    self.paths().join(", ")
                ),
            )
        })
    }
}

/// A filter and an order of list `L`, checked against its fields: what its list function
/// renders as SQL.
pub struct Listing<L: 'static> {
    fields: &'static Fields<L>,
    condition: Option<Cond>,
    order: Vec<(&'static Field, bool)>,
}

/// A checked filter.
#[derive(Debug, Clone)]
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Test(&'static Field, Test),
}

#[derive(Debug, Clone)]
enum Test {
    /// The column is NULL.
    Null,
    /// `column <op> value`, `op` one of `=`, `<`, `<=`, `>`, `>=`.
    Compare(&'static str, Bind),
    /// Matches the pattern; ignoring ASCII case when `true`.
    Like(Pattern, bool),
    /// Equals one of the values, or is NULL when `true`.
    In(Vec<Bind>, bool),
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

impl<L> Listing<L> {
    /// Everything, in the list's own order.
    pub fn all(fields: &'static Fields<L>) -> Self {
        Listing {
            fields,
            condition: None,
            order: Vec::new(),
        }
    }

    /// `filter` and `order` checked against `fields`; refused with every unknown field,
    /// withheld field, value that does not read as its field's kind, or operator that does not
    /// apply to it (keyed by the field's path, `order` for the order).
    pub fn new(
        fields: &'static Fields<L>,
        filter: Option<&Filter>,
        order: &[OrderKey],
    ) -> Result<Self, Vec<rql::Error>> {
        let mut errors = Vec::new();
        let condition = filter.and_then(|filter| compile(fields, filter, &mut errors));
        let mut keys = Vec::new();
        for key in order {
            match fields.field(&key.field) {
                Ok(field) => keys.push((field, key.descending)),
                Err(error) => errors.push(rql::Error::new(
                    "order",
                    format!("{}: {}", error.key, error.message),
                )),
            }
        }
        if errors.is_empty() {
            Ok(Listing {
                fields,
                condition,
                order: keys,
            })
        } else {
            Err(errors)
        }
    }

    /// The condition and order for `backend`, numbering placeholders from `$first`.
    pub(super) fn sql(&self, backend: Backend, first: usize) -> ListSql {
        let mut render = Render {
            backend,
            next: first,
            binds: Vec::new(),
        };
        let condition = match &self.condition {
            Some(condition) => render.condition(condition),
            None => "1 = 1".to_owned(),
        };
        let mut keys: Vec<String> = self
            .order
            .iter()
            .map(|(field, descending)| {
                let direction = match (descending, field.nullable) {
                    (false, false) => "ASC",
                    (true, false) => "DESC",
                    (false, true) => "ASC NULLS FIRST",
                    (true, true) => "DESC NULLS LAST",
                };
                format!("{} {direction}", render.ordered(field))
            })
            .collect();
        if !self.order.iter().any(|(field, _)| field.unique) {
            keys.push(match (backend, self.fields.postgres_order) {
                (Backend::Postgres, Some(order)) => order.to_owned(),
                _ => self.fields.order.to_owned(),
            });
        }
        ListSql {
            condition,
            order: keys.join(", "),
            next: render.next,
            binds: render.binds,
        }
    }
}

/// A listing rendered for one backend.
pub(super) struct ListSql {
    /// The filter as a condition (`1 = 1` without one), to AND with the scope's.
    pub(super) condition: String,
    /// The `ORDER BY` keys.
    pub(super) order: String,
    /// The number of the next free placeholder.
    pub(super) next: usize,
    binds: Vec<Bind>,
}

impl ListSql {
    /// Binds the condition's values, in the order of their placeholders: after the values of
    /// the placeholders before `$first`, before those from [`ListSql::next`] on.
    pub(super) fn bind<'q>(
        &self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for bind in &self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Int(n) => query.bind(*n),
            };
        }
        query
    }
}

fn compile<L>(
    fields: &'static Fields<L>,
    filter: &Filter,
    errors: &mut Vec<rql::Error>,
) -> Option<Cond> {
    let all = |filters: &[Filter], errors: &mut Vec<rql::Error>| -> Option<Vec<Cond>> {
        let conds: Vec<Option<Cond>> = filters.iter().map(|f| compile(fields, f, errors)).collect();
        conds.into_iter().collect()
    };
    let refuse = |errors: &mut Vec<rql::Error>, field: &Field, message: String| {
        errors.push(rql::Error::new(field.path, message));
        None
    };
    match filter {
        Filter::And(filters) => all(filters, errors).map(Cond::And),
        Filter::Or(filters) => all(filters, errors).map(Cond::Or),
        Filter::Not(filter) => compile(fields, filter, errors).map(|c| Cond::Not(Box::new(c))),
        Filter::Compare { op, field, value } => {
            let field = match fields.field(field) {
                Ok(field) => field,
                Err(error) => {
                    errors.push(error);
                    return None;
                }
            };
            let name = op.as_str();
            let text = match value {
                Value::Text(text) => text,
                Value::Null => {
                    return match op {
                        Op::Eq => Some(Cond::Test(field, Test::Null)),
                        Op::Ne => Some(Cond::Not(Box::new(Cond::Test(field, Test::Null)))),
                        _ => refuse(
                            errors,
                            field,
                            format!("{name}( does not take null(): only eq, ne, in and out do"),
                        ),
                    };
                }
            };
            let test = match op {
                Op::Like | Op::Ilike if !matches!(field.kind, Kind::Text | Kind::Word(_)) => {
                    return refuse(
                        errors,
                        field,
                        format!(
                            "{name}( matches text, and this field is {}: use eq, lt, gt, …",
                            field.kind.describe()
                        ),
                    );
                }
                Op::Like => Test::Like(Pattern::parse(text), false),
                Op::Ilike => Test::Like(Pattern::parse(text), true),
                Op::Lt | Op::Le | Op::Gt | Op::Ge if matches!(field.kind, Kind::Bool) => {
                    return refuse(
                        errors,
                        field,
                        format!("{name}( does not apply to true or false: use eq or ne"),
                    );
                }
                Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let bind = match bind(field, text) {
                        Ok(bind) => bind,
                        Err(message) => return refuse(errors, field, message),
                    };
                    let sql = match op {
                        Op::Lt => "<",
                        Op::Le => "<=",
                        Op::Gt => ">",
                        Op::Ge => ">=",
                        _ => "=",
                    };
                    Test::Compare(sql, bind)
                }
            };
            let test = Cond::Test(field, test);
            Some(match op {
                Op::Ne => Cond::Not(Box::new(test)),
                _ => test,
            })
        }
        Filter::Member { op, field, values } => {
            let field = match fields.field(field) {
                Ok(field) => field,
                Err(error) => {
                    errors.push(error);
                    return None;
                }
            };
            let mut binds = Vec::new();
            let mut null = false;
            for value in values {
                match value {
                    Value::Null => null = true,
                    Value::Text(text) => match bind(field, text) {
                        Ok(bind) => binds.push(bind),
                        Err(message) => return refuse(errors, field, message),
                    },
                }
            }
            let test = Cond::Test(field, Test::In(binds, null));
            Some(match op {
                SetOp::In => test,
                SetOp::Out => Cond::Not(Box::new(test)),
            })
        }
    }
}

/// `text` read as a value of `field`.
fn bind(field: &Field, text: &str) -> Result<Bind, String> {
    match field.kind {
        Kind::Text => Ok(Bind::Text(text.to_owned())),
        Kind::Word(words) => words
            .iter()
            .find(|word| word.eq_ignore_ascii_case(text))
            .map(|word| Bind::Text((*word).to_owned()))
            .ok_or_else(|| format!("{text:?} is not one of {}", words.join(", "))),
        Kind::Int => text
            .parse::<i64>()
            .map(Bind::Int)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Bind::Int(1)),
            "false" => Ok(Bind::Int(0)),
            _ => Err(format!("{text:?} is not true or false")),
        },
        Kind::Time => time_ms(text).map(Bind::Int),
        Kind::TimeText => time_ms(text).map(|ms| Bind::Text(format_ms(ms))),
    }
}

/// An RFC 3339 time as Unix milliseconds (finer digits are cut off).
fn time_ms(text: &str) -> Result<i64, String> {
    let at = ::time::OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            format!("{text:?} is not a time: give it in RFC 3339, e.g. 2026-01-31T23:00:00.000Z")
        })?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000))
        .map_err(|_| format!("{text:?} is out of range"))
}

struct Render {
    backend: Backend,
    next: usize,
    binds: Vec<Bind>,
}

impl Render {
    fn placeholder(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        self.next += 1;
        format!("${}", self.next - 1)
    }

    fn column(&self, field: &Field) -> &'static str {
        match self.backend {
            Backend::Sqlite => field.sqlite,
            Backend::Postgres => field.postgres,
        }
    }

    /// The column as compared and sorted: by code point (SQLite's `BINARY` is that already).
    fn ordered(&self, field: &Field) -> String {
        let column = self.column(field);
        match self.backend {
            Backend::Postgres if field.kind.is_text() => format!("({column}) COLLATE \"C\""),
            _ => column.to_owned(),
        }
    }

    fn condition(&mut self, condition: &Cond) -> String {
        match condition {
            Cond::And(conditions) => self.join(conditions, " AND "),
            Cond::Or(conditions) => self.join(conditions, " OR "),
            Cond::Not(condition) => format!("(NOT {})", self.condition(condition)),
            Cond::Test(field, test) => self.test(field, test),
        }
    }

    fn join(&mut self, conditions: &[Cond], with: &str) -> String {
        let parts: Vec<String> = conditions.iter().map(|c| self.condition(c)).collect();
        format!("({})", parts.join(with))
    }

    /// A test that is never NULL (so that `NOT` negates it): a nullable column is checked
    /// for a value first.
    fn test(&mut self, field: &Field, test: &Test) -> String {
        let column = self.column(field);
        let ordered = self.ordered(field);
        let sql = match test {
            Test::Null => return format!("({column} IS NULL)"),
            Test::Compare(op, bind) => {
                let value = self.placeholder(bind.clone());
                format!("{ordered} {op} {value}")
            }
            Test::Like(pattern, ignore_case) => match (self.backend, ignore_case) {
                (Backend::Sqlite, false) => {
                    let value = self.placeholder(Bind::Text(glob_pattern(pattern)));
                    format!("{column} GLOB {value}")
                }
                (Backend::Sqlite, true) => {
                    let value = self.placeholder(Bind::Text(like_pattern(pattern)));
                    format!("LOWER({column}) LIKE LOWER({value}) ESCAPE '\\'")
                }
                (Backend::Postgres, false) => {
                    let value = self.placeholder(Bind::Text(like_pattern(pattern)));
                    format!("{ordered} LIKE {value} ESCAPE '\\'")
                }
                (Backend::Postgres, true) => {
                    let value = self.placeholder(Bind::Text(like_pattern(pattern)));
                    format!("LOWER({ordered}) LIKE LOWER({value} COLLATE \"C\") ESCAPE '\\'")
                }
            },
            Test::In(binds, null) => {
                if binds.is_empty() {
                    return format!("({column} IS NULL)");
                }
                let values: Vec<String> =
                    binds.iter().map(|b| self.placeholder(b.clone())).collect();
                let listed = format!("{ordered} IN ({})", values.join(", "));
                if *null {
                    return format!("({column} IS NULL OR {listed})");
                }
                listed
            }
        };
        if field.nullable {
            format!("({column} IS NOT NULL AND {sql})")
        } else {
            format!("({sql})")
        }
    }
}

/// A pattern for `LIKE … ESCAPE '\'`.
fn like_pattern(pattern: &Pattern) -> String {
    let mut out = String::new();
    for piece in &pattern.0 {
        match piece {
            Piece::Any => out.push('%'),
            Piece::Char(c @ ('%' | '_' | '\\')) => {
                out.push('\\');
                out.push(*c);
            }
            Piece::Char(c) => out.push(*c),
        }
    }
    out
}

/// A pattern for SQLite's case-sensitive `GLOB`.
fn glob_pattern(pattern: &Pattern) -> String {
    let mut out = String::new();
    for piece in &pattern.0 {
        match piece {
            Piece::Any => out.push('*'),
            Piece::Char(c @ ('*' | '?' | '[')) => {
                let _ = write!(out, "[{c}]");
            }
            Piece::Char(c) => out.push(*c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::WebhookStatus;

    enum Test {}

    static FIELDS: Fields<Test> = Fields::new(
        &[
            Field::new("description", "description", Kind::Text),
            Field::new("status", "status", Kind::Word(WebhookStatus::NAMES)),
            Field::new("type", "type", Kind::Text).nullable(),
            Field::new("total", "stat_total", Kind::Int),
            Field::new("ok", "success", Kind::Bool),
            Field::new("at", "created_at", Kind::Time),
            Field::new("secret", "secret", Kind::Text),
        ],
        "created_at, id",
    )
    .withholding(&["secret"], "is not for you");

    fn listing(query: &str) -> Result<Listing<Test>, Vec<rql::Error>> {
        let query = rql::parse_query(query).unwrap();
        Listing::new(&FIELDS, query.filter.as_ref(), &query.order)
    }

    fn sql(query: &str, backend: Backend) -> (String, String, Vec<Bind>) {
        let sql = listing(query).unwrap().sql(backend, 2);
        assert_eq!(sql.next, 2 + sql.binds.len());
        (sql.condition, sql.order, sql.binds)
    }

    #[test]
    fn values_are_bound_and_columns_come_from_the_whitelist() {
        let (condition, order, binds) = sql(
            "and(eq(status,ENABLED),ilike(description,*50%_off*),ne(type,x))&order=-type,description",
            Backend::Sqlite,
        );
        assert_eq!(
            condition,
            "((status = $2) AND (LOWER(description) LIKE LOWER($3) ESCAPE '\\') AND \
             (NOT (type IS NOT NULL AND type = $4)))"
        );
        assert_eq!(
            binds,
            [
                Bind::Text("enabled".into()),
                Bind::Text("%50\\%\\_off%".into()),
                Bind::Text("x".into())
            ]
        );
        assert_eq!(
            order,
            "type DESC NULLS LAST, description ASC, created_at, id"
        );
        let (condition, order, _) = sql(
            "like(description,a*)&in(type,(a,null()))&order=description",
            Backend::Postgres,
        );
        assert_eq!(
            condition,
            "(((description) COLLATE \"C\" LIKE $2 ESCAPE '\\') AND \
             (type IS NULL OR (type) COLLATE \"C\" IN ($3)))"
        );
        assert_eq!(order, "(description) COLLATE \"C\" ASC, created_at, id");
        let (condition, _, binds) = sql("like(description,a?[*\\*)", Backend::Sqlite);
        assert_eq!(condition, "(description GLOB $2)");
        assert_eq!(binds, [Bind::Text("a[?][[]*[*]".into())]);
    }

    #[test]
    fn values_are_read_by_the_kind_of_their_field() {
        let (condition, _, binds) = sql(
            "ge(total,3)&eq(ok,TRUE)&lt(at,2026-01-01T01:00:00.123%2B01:00)&eq(type,null())",
            Backend::Postgres,
        );
        assert_eq!(
            condition,
            "((stat_total >= $2) AND (success = $3) AND (created_at < $4) AND (type IS NULL))"
        );
        assert_eq!(
            binds,
            [Bind::Int(3), Bind::Int(1), Bind::Int(1_767_225_600_123)]
        );
        let (condition, order, _) = sql("", Backend::Sqlite);
        assert_eq!(
            (condition.as_str(), order.as_str()),
            ("1 = 1", "created_at, id")
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let refused = |query: &str| -> Vec<(String, String)> {
            listing(query)
                .err()
                .unwrap()
                .into_iter()
                .map(|e| (e.key, e.message))
                .collect()
        };
        let errors = refused("and(eq(colour,red),eq(total,many),eq(status,on))&order=nope");
        let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["colour", "total", "status", "order"]);
        assert!(errors[0].1.contains("description, status"), "{errors:?}");
        assert!(errors[2].1.contains("enabled, disabled"), "{errors:?}");
        assert!(
            errors[3].1.starts_with("nope: is not a field"),
            "{errors:?}"
        );
        assert_eq!(refused("eq(secret,x)")[0].1, "is not for you");
        assert_eq!(refused("like(total,1*)")[0].0, "total");
        assert_eq!(refused("gt(ok,true)")[0].0, "ok");
        assert_eq!(refused("lt(type,null())")[0].0, "type");
        assert_eq!(refused("eq(at,yesterday)")[0].0, "at");
        assert!(!FIELDS.paths().contains(&"secret"));
    }
}
