//! RQL, the Resource Query Language of the MPT platform's list endpoints (and CloudBlue
//! Connect's): the syntax tree, its parser and its printer, and the query string around it.
//!
//! Pure text. What a filter means for one list (which fields it has, their columns and types)
//! is the store's (`store::Listing`); how a request carries it is the API's.
//!
//! # The query string
//! `GET …/webhooks?and(eq(status,enabled),ilike(description,*order*))&order=-audit.created.at&limit=10`
//!
//! The query string is split at `&`, and each part is percent-decoded (`+` stays a plus: RQL
//! spells ascending order with it) before it is read:
//! - `limit=`, `offset=`, `order=` and `select=` are the list's controls; each may be given
//!   once. `order=-audit.created.at,description` sorts (`-` descending, `+` or nothing
//!   ascending); `select=-statistics,+audit` shapes the items (see the API).
//! - any other `field=value` is the shorthand of `eq(field,value)`, and `field=op=value` of
//!   `op(field,value)` (`status=ne=disabled`, `type=in=(a,b)`);
//! - a part without `=` before its first `(` is a filter expression.
//!
//! Several filters (expressions and shorthands) must all hold: they are ANDed.
//!
//! # Filter expressions
//! - comparisons `eq ne lt le gt ge (field,value)`; `like` and `ilike (field,pattern)`
//!   (`ilike` ignores the case of ASCII letters); `in` and `out (field,(value,…))`;
//! - `and(filter,…)`, `or(filter,…)`, `not(filter)`;
//! - fields are names or dotted paths (`service.id`, `audit.created.at`);
//! - values are bare (`enabled`, `SVC-1234-5678`, leading and trailing spaces dropped) or
//!   quoted with `"` or `'` when they hold `(`, `)`, `,`, quotes or surrounding spaces;
//!   inside quotes `\"`, `\'` and `\\` stand for the character, any other `\x` is kept
//!   as it is. `null()` is "no value", `empty()` the empty text (as is `""`);
//! - in a `like`/`ilike` pattern, `*` matches any run of characters and `\` takes the next
//!   character literally (`\*` is a star, `\\` a backslash): see [`Pattern`].
//!
//! Operator names are lowercase. Not supported (refused as unknown operators): `any`, `all`,
//! `range`, `select(…)`/`sort(…)`/`limit(…)` inside an expression.

use std::fmt::{self, Write as _};

/// Deepest nesting of `and`/`or`/`not` a filter may have.
pub const MAX_DEPTH: usize = 16;

/// Most comparisons and listed values one query may hold: each becomes a bound parameter.
pub const MAX_TERMS: usize = 500;

/// A filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every filter holds (`and(…)`; also several filters of one query string).
    And(Vec<Filter>),
    /// At least one filter holds (`or(…)`).
    Or(Vec<Filter>),
    /// The filter does not hold (`not(…)`).
    Not(Box<Filter>),
    /// `op(field,value)`.
    Compare {
        /// The comparison.
        op: Op,
        /// The field's path.
        field: String,
        /// What it is compared with.
        value: Value,
    },
    /// `in(field,(values…))` or `out(…)`.
    Member {
        /// `in` or `out`.
        op: SetOp,
        /// The field's path.
        field: String,
        /// The values listed (at least one).
        values: Vec<Value>,
    },
}

/// The comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal (`not(eq(…))`).
    Ne,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `like`: matches a [`Pattern`], case-sensitive.
    Like,
    /// `ilike`: matches a [`Pattern`], ignoring the case of ASCII letters.
    Ilike,
}

impl Op {
    /// Every comparison.
    pub const ALL: [Op; 8] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::Like,
        Op::Ilike,
    ];

    /// Its name in RQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Like => "like",
            Op::Ilike => "ilike",
        }
    }

    fn named(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

/// `in` and `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// The field equals one of the values.
    In,
    /// The field equals none of the values.
    Out,
}

impl SetOp {
    /// Its name in RQL.
    pub fn as_str(self) -> &'static str {
        match self {
            SetOp::In => "in",
            SetOp::Out => "out",
        }
    }

    fn named(name: &str) -> Option<SetOp> {
        [SetOp::In, SetOp::Out]
            .into_iter()
            .find(|op| op.as_str() == name)
    }
}

/// A value of a comparison. Values are text: what the text means (a number, a time, one of a
/// set of words) depends on the field, and is the store's to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text; `empty()` and `""` are `Text("")`.
    Text(String),
    /// `null()`: the field has no value.
    Null,
}

/// One key of `order=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    /// The field's path.
    pub field: String,
    /// `-field`.
    pub descending: bool,
}

/// One entry of `select=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// A property of the items, or a dotted path into one.
    pub path: String,
    /// `-path` (otherwise `+path` or `path`).
    pub exclude: bool,
}

/// A list endpoint's query string, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The filters, ANDed; `None` lists everything.
    pub filter: Option<Filter>,
    /// `order=`, first key first.
    pub order: Vec<OrderKey>,
    /// `select=`.
    pub select: Vec<Selector>,
    /// `limit=` as given (each list has its own range and default).
    pub limit: Option<String>,
    /// `offset=` as given.
    pub offset: Option<String>,
}

/// Why a query string (or a part of it) is refused: the query parameter or field it is about
/// (the `errors` key of the problem document) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Error {
    /// The query parameter (`limit`, `order`, a filter expression as sent) or the field.
    pub key: String,
    /// What is wrong, for humans.
    pub message: String,
}

impl Error {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The operators a filter expression may use, for messages.
const OPERATORS: &str = "eq, ne, lt, le, gt, ge, like, ilike, in, out, and, or, not";

// ---------------------------------------------------------------------------------------------
// The query string

/// Reads a list endpoint's raw query string (as it is in the URL, percent-encoded). Refused
/// parts are all reported, each under its parameter or field.
pub fn parse_query(raw: &str) -> Result<Query, Vec<Error>> {
    let mut query = Query::default();
    let mut filters = Vec::new();
    let mut errors = Vec::new();
    let mut terms = 0;
    for part in raw.split('&').filter(|part| !part.is_empty()) {
        let Some(text) = percent_decode(part) else {
            errors.push(Error::new(part, "is not UTF-8 text once percent-decoded"));
            continue;
        };
        let equals = text.find('=');
        let paren = text.find('(');
        let Some(at) = equals.filter(|&at| paren.is_none_or(|paren| at < paren)) else {
            match Parser::new(&text, &mut terms).whole_filter() {
                Ok(filter) => filters.push(filter),
                Err(error) => errors.push(Error::new(text.as_str(), error.to_string())),
            }
            continue;
        };
        let (key, value) = (&text[..at], &text[at + 1..]);
        let result = match key {
            "limit" => once(&mut query.limit, key, value.to_owned()),
            "offset" => once(&mut query.offset, key, value.to_owned()),
            "order" if !query.order.is_empty() => Err(given_twice(key)),
            "order" => order_keys(value).map(|keys| query.order = keys),
            "select" if !query.select.is_empty() => Err(given_twice(key)),
            "select" => selectors(value).map(|selectors| query.select = selectors),
            field => shorthand(field, value, &mut terms).map(|filter| filters.push(filter)),
        };
        if let Err(error) = result {
            errors.push(error);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    query.filter = match filters.len() {
        0 => None,
        1 => filters.pop(),
        _ => Some(Filter::And(filters)),
    };
    Ok(query)
}

fn given_twice(key: &str) -> Error {
    Error::new(key, "is given more than once")
}

fn once(slot: &mut Option<String>, key: &str, value: String) -> Result<(), Error> {
    if slot.is_some() {
        return Err(given_twice(key));
    }
    *slot = Some(value);
    Ok(())
}

/// `field=value`, `field=op=value`, `field=in=(a,b)`.
fn shorthand(field: &str, text: &str, terms: &mut usize) -> Result<Filter, Error> {
    if !is_path(field) {
        return Err(Error::new(
            field,
            format!(
                "is neither a field name nor one of limit, offset, order, select (a filter \
                 expression needs an operator: {OPERATORS})"
            ),
        ));
    }
    let (name, rest) = text
        .split_once('=')
        .filter(|(name, _)| Op::named(name).is_some() || SetOp::named(name).is_some())
        .unwrap_or(("eq", text));
    shorthand_filter(field, name, rest, terms).map_err(|error| Error::new(field, error.to_string()))
}

/// `name(field,rest)`, `rest` being a value (or a list of values for `in`/`out`).
fn shorthand_filter(
    field: &str,
    name: &str,
    rest: &str,
    terms: &mut usize,
) -> Result<Filter, SyntaxError> {
    let mut parser = Parser::new(rest, terms);
    let filter = if let Some(op) = SetOp::named(name) {
        let values = parser.values()?;
        Filter::Member {
            op,
            field: field.to_owned(),
            values,
        }
    } else {
        let op = Op::named(name).unwrap_or(Op::Eq);
        let value = parser.value()?;
        parser.count_term()?;
        Filter::Compare {
            op,
            field: field.to_owned(),
            value,
        }
    };
    parser.end("the value")?;
    Ok(filter)
}

fn order_keys(text: &str) -> Result<Vec<OrderKey>, Error> {
    entries("order", text, '-')?
        .into_iter()
        .map(|(field, descending)| Ok(OrderKey { field, descending }))
        .collect()
}

fn selectors(text: &str) -> Result<Vec<Selector>, Error> {
    entries("select", text, '-')?
        .into_iter()
        .map(|(path, exclude)| Ok(Selector { path, exclude }))
        .collect()
}

/// `a,-b,+c` as (path, marked with `minus`).
fn entries(key: &str, text: &str, minus: char) -> Result<Vec<(String, bool)>, Error> {
    let mut out = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        let (path, marked) = match entry.strip_prefix(minus) {
            Some(path) => (path, true),
            None => (entry.strip_prefix('+').unwrap_or(entry), false),
        };
        if !is_path(path) {
            return Err(Error::new(
                key,
                format!(
                    "{entry:?} is not a field: give names or dotted paths separated by commas, \
                     each with an optional + or -"
                ),
            ));
        }
        out.push((path.to_owned(), marked));
    }
    Ok(out)
}

impl fmt::Display for Query {
    /// The query string that [`parse_query`] reads back as this query, percent-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(filter) = &self.filter {
            parts.push(percent_encode(&filter.to_string()));
        }
        if !self.order.is_empty() {
            let keys: Vec<String> = self
                .order
                .iter()
                .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field))
                .collect();
            parts.push(format!("order={}", keys.join(",")));
        }
        if !self.select.is_empty() {
            let entries: Vec<String> = self
                .select
                .iter()
                .map(|s| format!("{}{}", if s.exclude { "-" } else { "+" }, s.path))
                .collect();
            parts.push(format!("select={}", percent_encode(&entries.join(","))));
        }
        for (key, value) in [("limit", &self.limit), ("offset", &self.offset)] {
            if let Some(value) = value {
                parts.push(format!("{key}={}", percent_encode(value)));
            }
        }
        f.write_str(&parts.join("&"))
    }
}

/// Decodes `%XY` escapes (a `%` not followed by two hex digits stays as it is); `None` when
/// the result is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes what may not stand in a query string as it is, or would be read as
/// something else there (`&`, `=`, `%`, `+`, `#`, quotes, spaces, non-ASCII).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~()*,!$':@/?;".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Filter expressions

/// Reads a filter expression (already percent-decoded), e.g.
/// `and(eq(status,enabled),ilike(description,*order*))`.
pub fn parse_filter(text: &str) -> Result<Filter, SyntaxError> {
    let mut terms = 0;
    Parser::new(text, &mut terms).whole_filter()
}

/// Why a filter expression could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {at})")]
pub struct SyntaxError {
    /// 1-based position of the character where reading stopped.
    pub at: usize,
    /// What was expected or is wrong.
    pub message: String,
}

struct Parser<'a, 't> {
    text: &'a str,
    /// Byte offset of the next character.
    at: usize,
    depth: usize,
    /// Comparisons and listed values read so far, in the whole query.
    terms: &'t mut usize,
}

impl<'a, 't> Parser<'a, 't> {
    fn new(text: &'a str, terms: &'t mut usize) -> Self {
        Parser {
            text,
            at: 0,
            depth: 0,
            terms,
        }
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            at: self.text[..self.at].chars().count() + 1,
            message: message.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, context: &str) -> Result<(), SyntaxError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(format!("expected {c:?} {context}")))
        }
    }

    fn end(&mut self, what: &str) -> Result<(), SyntaxError> {
        self.skip_spaces();
        if self.rest().is_empty() {
            Ok(())
        } else {
            Err(self.error(format!("unexpected text after {what}")))
        }
    }

    fn count_term(&mut self) -> Result<(), SyntaxError> {
        *self.terms += 1;
        if *self.terms > MAX_TERMS {
            return Err(self.error(format!(
                "a query may hold at most {MAX_TERMS} comparisons and listed values"
            )));
        }
        Ok(())
    }

    /// A name: ASCII letters, digits and `_`, not starting with a digit.
    fn name(&mut self) -> &'a str {
        self.skip_spaces();
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        self.at += len;
        &rest[..len]
    }

    fn whole_filter(&mut self) -> Result<Filter, SyntaxError> {
        let filter = self.filter()?;
        self.end("the filter")?;
        Ok(filter)
    }

    fn filter(&mut self) -> Result<Filter, SyntaxError> {
        let start = self.at;
        let name = self.name();
        if name.is_empty() {
            return Err(self.error(format!(
                "expected a filter: an operator call such as eq(field,value); operators: \
                 {OPERATORS}"
            )));
        }
        if !self.eat('(') {
            return Err(self.error(format!(
                "expected \"(\" after {name:?}: a filter is an operator call such as \
                 eq(field,value)"
            )));
        }
        match name {
            "and" | "or" | "not" => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error(format!("and/or/not may nest at most {MAX_DEPTH} deep")));
                }
                let mut operands = vec![self.filter()?];
                while name != "not" && self.eat(',') {
                    operands.push(self.filter()?);
                }
                self.expect(')', &format!("to close {name}("))?;
                self.depth -= 1;
                Ok(match name {
                    "and" => Filter::And(operands),
                    "or" => Filter::Or(operands),
                    _ => Filter::Not(Box::new(operands.remove(0))),
                })
            }
            _ => {
                if let Some(op) = Op::named(name) {
                    let field = self.field()?;
                    self.expect(',', &format!("after the field of {name}("))?;
                    let value = self.value()?;
                    self.count_term()?;
                    self.expect(')', &format!("to close {name}( after its value"))?;
                    Ok(Filter::Compare { op, field, value })
                } else if let Some(op) = SetOp::named(name) {
                    let field = self.field()?;
                    self.expect(',', &format!("after the field of {name}("))?;
                    let values = self.values()?;
                    self.expect(')', &format!("to close {name}( after its values"))?;
                    Ok(Filter::Member { op, field, values })
                } else {
                    self.at = start;
                    self.skip_spaces();
                    Err(self.error(format!("unknown operator {name}(); operators: {OPERATORS}")))
                }
            }
        }
    }

    /// A dotted path of names.
    fn field(&mut self) -> Result<String, SyntaxError> {
        let mut path = String::new();
        loop {
            let name = self.name();
            if name.is_empty() {
                return Err(self.error("expected a field name"));
            }
            path.push_str(name);
            if self.peek() == Some('.') {
                self.at += 1;
                path.push('.');
            } else {
                return Ok(path);
            }
        }
    }

    /// `(a,b,…)`, or a single value.
    fn values(&mut self) -> Result<Vec<Value>, SyntaxError> {
        if !self.eat('(') {
            let value = self.value()?;
            self.count_term()?;
            return Ok(vec![value]);
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            self.count_term()?;
            if !self.eat(',') {
                break;
            }
        }
        self.expect(')', "to close the list of values")?;
        Ok(values)
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.skip_spaces();
        match self.peek() {
            Some(quote @ ('"' | '\'')) => {
                self.at += 1;
                self.quoted(quote).map(Value::Text)
            }
            _ => {
                let rest = self.rest();
                let len = rest.find(['(', ')', ',']).unwrap_or(rest.len());
                let bare = rest[..len].trim_end();
                self.at += len;
                if self.peek() == Some('(') {
                    let constant = match bare {
                        "null" => Value::Null,
                        "empty" => Value::Text(String::new()),
                        _ => {
                            return Err(self.error(format!(
                                "{bare:?}( is not a value: the values that are calls are \
                                 null() and empty(); quote a value that holds \"(\""
                            )));
                        }
                    };
                    self.at += 1;
                    self.expect(')', &format!("to close {bare}("))?;
                    return Ok(constant);
                }
                if bare.is_empty() {
                    return Err(self
                        .error("expected a value (empty() for the empty text, null() for none)"));
                }
                Ok(Value::Text(bare.to_owned()))
            }
        }
    }

    /// The rest of a quoted value, after its opening `quote`.
    fn quoted(&mut self, quote: char) -> Result<String, SyntaxError> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.at += i + c.len_utf8();
                return Ok(out);
            }
            if c == '\\'
                && let Some((_, next)) = chars.clone().next()
                && matches!(next, '\\' | '"' | '\'')
            {
                chars.next();
                out.push(next);
            } else {
                out.push(c);
            }
        }
        self.at = self.text.len();
        Err(self.error(format!("the quoted value has no closing {quote}")))
    }
}

/// Whether `text` is a field name or a dotted path of them.
pub fn is_path(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|name| {
            let mut chars = name.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

impl fmt::Display for Filter {
    /// The expression [`parse_filter`] reads back as this filter (not percent-encoded).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, operands: &[Filter]| {
            write!(f, "{name}(")?;
            for (i, operand) in operands.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                write!(f, "{operand}")?;
            }
            f.write_char(')')
        };
        match self {
            Filter::And(operands) => list(f, "and", operands),
            Filter::Or(operands) => list(f, "or", operands),
            Filter::Not(operand) => write!(f, "not({operand})"),
            Filter::Compare { op, field, value } => {
                write!(f, "{}({field},{value})", op.as_str())
            }
            Filter::Member { op, field, values } => {
                write!(f, "{}({field},(", op.as_str())?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("))")
            }
        }
    }
}

impl fmt::Display for Value {
    /// Bare when that reads back the same, quoted otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null()"),
            Value::Text(text) if text.is_empty() => f.write_str("empty()"),
            Value::Text(text) => {
                let bare = text.trim() == text
                    && !text.contains(['(', ')', ',', '"', '\''])
                    && !text.chars().any(char::is_control);
                if bare {
                    return f.write_str(text);
                }
                f.write_char('"')?;
                for c in text.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('"')
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// like / ilike patterns

/// A `like`/`ilike` pattern: `*` matches any run of characters (none included), `\` takes the
/// next character literally (`\*`, `\\`; a `\` at the end is a backslash); everything else
/// matches itself. A pattern without `*` must match the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub Vec<Piece>);

/// A piece of a [`Pattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// `*`.
    Any,
    /// A character that matches itself.
    Char(char),
}

impl Pattern {
    /// Reads a pattern.
    pub fn parse(text: &str) -> Pattern {
        let mut pieces = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            pieces.push(match c {
                '*' => Piece::Any,
                '\\' => Piece::Char(chars.next().unwrap_or('\\')),
                c => Piece::Char(c),
            });
        }
        Pattern(pieces)
    }

    /// Whether `text` matches, ignoring the case of ASCII letters when `ignore_ascii_case`
    /// (what `ilike` does on both database backends).
    pub fn matches(&self, text: &str, ignore_ascii_case: bool) -> bool {
        let same = |p: char, t: char| {
            if ignore_ascii_case {
                p.eq_ignore_ascii_case(&t)
            } else {
                p == t
            }
        };
        let text: Vec<char> = text.chars().collect();
        let pieces = &self.0;
        // Greedy matching with backtracking to the last `*`: linear in practice.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pieces.get(p) {
                Some(Piece::Char(c)) if same(*c, text[t]) => {
                    p += 1;
                    t += 1;
                }
                Some(Piece::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        pieces[p..].iter().all(|piece| *piece == Piece::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eq(field: &str, value: &str) -> Filter {
        Filter::Compare {
            op: Op::Eq,
            field: field.into(),
            value: Value::Text(value.into()),
        }
    }

    #[test]
    fn reads_the_examples_of_the_platform() {
        let query = parse_query(
            "and(eq(status,enabled),ilike(description,*order*))&order=-audit.created.at&limit=10",
        )
        .unwrap();
        assert_eq!(
            query.filter,
            Some(Filter::And(vec![
                eq("status", "enabled"),
                Filter::Compare {
                    op: Op::Ilike,
                    field: "description".into(),
                    value: Value::Text("*order*".into()),
                },
            ]))
        );
        assert_eq!(
            query.order,
            [OrderKey {
                field: "audit.created.at".into(),
                descending: true
            }]
        );
        assert_eq!(query.limit.as_deref(), Some("10"));
        let query = parse_query("in(type,(validateRequest,validateAccount))").unwrap();
        assert_eq!(
            query.filter,
            Some(Filter::Member {
                op: SetOp::In,
                field: "type".into(),
                values: vec![
                    Value::Text("validateRequest".into()),
                    Value::Text("validateAccount".into())
                ],
            })
        );
        let query = parse_query("select=-statistics,+audit,name&offset=5").unwrap();
        assert_eq!(
            query.select,
            [
                Selector {
                    path: "statistics".into(),
                    exclude: true
                },
                Selector {
                    path: "audit".into(),
                    exclude: false
                },
                Selector {
                    path: "name".into(),
                    exclude: false
                },
            ]
        );
        assert_eq!(query.offset.as_deref(), Some("5"));
        assert_eq!(parse_query("").unwrap(), Query::default());
    }

    #[test]
    fn shorthands_and_several_filters_are_anded() {
        let query = parse_query("status=enabled&eq(service.id,SVC-1)&type=ne=null()").unwrap();
        assert_eq!(
            query.filter,
            Some(Filter::And(vec![
                eq("status", "enabled"),
                eq("service.id", "SVC-1"),
                Filter::Compare {
                    op: Op::Ne,
                    field: "type".into(),
                    value: Value::Null
                },
            ]))
        );
        let query = parse_query("type=in=(a,%22b%2Cc%22)").unwrap();
        assert_eq!(
            query.filter,
            Some(Filter::Member {
                op: SetOp::In,
                field: "type".into(),
                values: vec![Value::Text("a".into()), Value::Text("b,c".into())],
            })
        );
        // `=` in a value is the value's; an unknown "operator" is part of the value.
        assert_eq!(
            parse_query("description=a=b").unwrap().filter,
            Some(eq("description", "a=b"))
        );
    }

    #[test]
    fn values_are_percent_decoded_and_quoted_values_keep_anything() {
        let query = parse_query("eq(description,%22Buzz%20%26%20co,%20(1)%22)").unwrap();
        assert_eq!(query.filter, Some(eq("description", "Buzz & co, (1)")));
        let query = parse_query("eq(description,'say \"hi\"')").unwrap();
        assert_eq!(query.filter, Some(eq("description", "say \"hi\"")));
        let query = parse_query(r#"ilike(description,"The\**")"#).unwrap();
        assert_eq!(
            query.filter,
            Some(Filter::Compare {
                op: Op::Ilike,
                field: "description".into(),
                value: Value::Text(r"The\**".into())
            })
        );
        // A fully encoded expression reads the same; `+` stays a plus.
        let query = parse_query("and%28eq%28status%2Cenabled%29%29&order=+description").unwrap();
        assert_eq!(
            query.filter,
            Some(Filter::And(vec![eq("status", "enabled")]))
        );
        assert!(!query.order[0].descending);
        let query = parse_query("eq(description,%20%20a%20b%20)&eq(x,empty())").unwrap();
        assert_eq!(
            query.filter,
            Some(Filter::And(vec![eq("description", "a b"), eq("x", "")]))
        );
    }

    #[test]
    fn refusals_name_the_parameter_or_field() {
        let keys = |raw: &str| -> Vec<String> {
            parse_query(raw)
                .unwrap_err()
                .into_iter()
                .map(|e| e.key)
                .collect()
        };
        assert_eq!(keys("limit=1&limit=2"), ["limit"]);
        assert_eq!(keys("order=-a&order=b"), ["order"]);
        assert_eq!(keys("order=-"), ["order"]);
        assert_eq!(keys("select=a,,b"), ["select"]);
        assert_eq!(keys("foo(a,b)"), ["foo(a,b)"]);
        assert_eq!(keys("eq(a,b"), ["eq(a,b"]);
        assert_eq!(keys("status="), ["status"]);
        assert_eq!(keys("a%20b=c"), ["a b"]);
        assert_eq!(
            keys("eq(a,b)x&in(t,())&eq(a,f(x))"),
            ["eq(a,b)x", "in(t,())", "eq(a,f(x))"]
        );
        let error = parse_query("and(eq(a,1),range(b,1,2))").unwrap_err();
        assert!(
            error[0].message.contains("unknown operator range()"),
            "{error:?}"
        );
        assert!(error[0].message.contains("at character 13"), "{error:?}");
        let deep = format!("{}eq(a,b){}", "not(".repeat(20), ")".repeat(20));
        assert!(parse_query(&deep).unwrap_err()[0].message.contains("nest"));
        let wide = format!("in(a,({}))", vec!["x"; MAX_TERMS + 1].join(","));
        assert!(
            parse_query(&wide).unwrap_err()[0]
                .message
                .contains("at most")
        );
        assert!(parse_query("eq(a,%FF)").is_err());
    }

    #[test]
    fn patterns_match_like_sql_does() {
        let matches =
            |pattern: &str, text: &str, ci: bool| Pattern::parse(pattern).matches(text, ci);
        assert!(matches("*order*", "my order list", false));
        assert!(!matches("*order*", "my Order list", false));
        assert!(matches("*order*", "my ORDER list", true));
        assert!(matches("*dog", "big dog", false));
        assert!(!matches("*dog", "big dog!", false));
        assert!(matches(r"The\**", "The* end", false));
        assert!(!matches(r"The\**", "The end", false));
        assert!(matches("a*b*c", "aXbYbZc", false));
        assert!(matches("", "", false));
        assert!(!matches("", "a", false));
        assert!(matches("**", "", false));
        assert!(matches("%_", "%_", false));
        assert!(!matches("%_", "ab", false));
        // Only ASCII letters fold, as on both backends.
        assert!(!matches("é", "É", true));
        assert!(matches(r"a\", r"a\", false));
    }

    // -----------------------------------------------------------------------------------------
    // Printing and reading back

    fn text() -> impl Strategy<Value = String> {
        // Every character that means something to the parser or to URLs, and some that do not.
        proptest::string::string_regex(r#"[a-cA-C0-9 ,()"'\\*%&=+#é._\-]{0,8}"#).unwrap()
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            1 => Just(Value::Null),
            6 => text().prop_map(Value::Text),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z_][a-zA-Z0-9_]{0,5}(\\.[a-z_][a-z0-9_]{0,4}){0,2}")
            .unwrap()
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let op = proptest::sample::select(Op::ALL.to_vec());
        let set = prop_oneof![Just(SetOp::In), Just(SetOp::Out)];
        let leaf = prop_oneof![
            (op, path(), value()).prop_map(|(op, field, value)| Filter::Compare {
                op,
                field,
                value
            }),
            (set, path(), proptest::collection::vec(value(), 1..4))
                .prop_map(|(op, field, values)| Filter::Member { op, field, values }),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::And),
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::Or),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
    }

    fn query() -> impl Strategy<Value = Query> {
        let order = proptest::collection::vec(
            (path(), any::<bool>()).prop_map(|(field, descending)| OrderKey { field, descending }),
            0..3,
        );
        let select = proptest::collection::vec(
            (path(), any::<bool>()).prop_map(|(path, exclude)| Selector { path, exclude }),
            0..3,
        );
        (
            proptest::option::of(filter()),
            order,
            select,
            proptest::option::of(text()),
            proptest::option::of(text()),
        )
            .prop_map(|(filter, order, select, limit, offset)| Query {
                filter,
                order,
                select,
                limit,
                offset,
            })
    }

    proptest! {
        #[test]
        fn a_printed_filter_reads_back_as_itself(filter in filter()) {
            let printed = filter.to_string();
            prop_assert_eq!(parse_filter(&printed), Ok(filter), "{}", printed);
        }

        #[test]
        fn a_printed_query_string_reads_back_as_itself(query in query()) {
            let printed = query.to_string();
            prop_assert_eq!(parse_query(&printed), Ok(query), "{}", printed);
        }

        #[test]
        fn percent_encoding_round_trips(text in "\\PC{0,12}") {
            prop_assert_eq!(percent_decode(&percent_encode(&text)), Some(text));
        }

        #[test]
        fn no_input_makes_the_parser_panic(raw in "[a-z(),=&%\"'\\\\ 0-9.*+-]{0,40}") {
            let _ = parse_query(&raw);
        }
    }
}
