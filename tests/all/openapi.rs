//! The OpenAPI document and the reference built on it: the served document is the committed
//! `host/openapi.json`, it names every route of the router (read from the source, as
//! `architecture` reads imports) and every operation it names is routed; Swagger UI comes from
//! the binary under a policy that allows this origin only.

use crate::support::{Db, TestHost};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How to bring the committed copy up to date.
const REGENERATE: &str = "cargo run -- openapi > host/openapi.json";

/// Routes that are no REST endpoints: Swagger UI's page and files.
const UNDOCUMENTED: &[&str] = &["/docs", "/docs/", "/docs/{*file}"];

/// Whether `path` is a REST endpoint: not Swagger UI, not the web portal's pages
/// (`/portal…`, HTML for browsers).
fn is_rest(path: &str) -> bool {
    !UNDOCUMENTED.contains(&path) && path != "/portal" && !path.starts_with("/portal/")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(path, method)` of every operation of `document`.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                operations.insert((path.clone(), method.clone()));
            }
        }
    }
    operations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_committed_one() {
    let host = TestHost::start(Db::Sqlite).await;
    let response = host
        .client
        .get(host.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    let document: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let committed =
        std::fs::read_to_string(repository().join("host/openapi.json")).unwrap_or_default();
    assert!(
        served == committed,
        "host/openapi.json is not the document the host serves: regenerate it with `{REGENERATE}`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_operation_routed() {
    let document: Value = serde_json::from_str(hookhost::api::openapi::json()).unwrap();
    let documented = documented(&document);
    let routed: BTreeSet<(String, String)> = routes()
        .into_iter()
        .filter(|(path, _)| is_rest(path))
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not in any router(): {unrouted:?}"
    );

    // And the server answers each of them itself, not with the unknown-route or wrong-method
    // fallbacks (a route written in a way the source reader above does not see would show
    // here).
    let host = TestHost::start(Db::Sqlite).await;
    for (path, method) in &documented {
        let concrete = path.replace('{', "X-").replace('}', "");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = host
            .client
            .request(method.clone(), host.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let fallback = body["detail"] == "no such resource"
            || body["detail"] == "method not allowed on this resource";
        assert!(!fallback, "{method} {concrete}: {status} {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_named_once_and_secured_with_the_declared_schemes() {
    let document: Value = serde_json::from_str(hookhost::api::openapi::json()).unwrap();
    let schemes: BTreeSet<&str> = document["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        schemes,
        BTreeSet::from(["admin_token", "provider_token", "tenant_api_key"])
    );
    let mut ids = BTreeMap::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                panic!("operationId {id} of {method} {path} is also {other}'s");
            }
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(
                        schemes.contains(scheme.as_str()),
                        "{method} {path}: {scheme}"
                    );
                }
            }
            // Every error is documented with its body, and whoever needs credentials is told
            // what a missing one gets.
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"].is_object(),
                        "{method} {path}: {status} has no body"
                    );
                }
            }
            if operation["security"].is_array() {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_is_served_from_the_binary_with_a_same_origin_policy() {
    let host = TestHost::start(Db::Sqlite).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = client.get(host.url("/docs")).send().await.unwrap();
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = client.get(host.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    assert!(!policy.contains("http"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    // Nothing on the page comes from elsewhere.
    for attribute in ["src=\"http", "href=\"http", "src='http", "href='http"] {
        assert!(!html.contains(attribute), "{attribute} in {html}");
    }

    let initializer = client
        .get(host.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(initializer.status(), StatusCode::OK);
    assert!(
        initializer
            .headers()
            .contains_key("content-security-policy")
    );
    let script = initializer.text().await.unwrap();
    assert!(script.contains("\"/openapi.json\""), "{script}");
    assert!(script.contains("\"validatorUrl\": \"none\""), "{script}");

    for file in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let response = client
            .get(host.url(&format!("/docs/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        assert!(response.bytes().await.unwrap().len() > 1000, "{file}");
    }
    let missing = client
        .get(host.url("/docs/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
}

// ---------------------------------------------------------------------------------------------
// The router's routes, read from `host/src/api`

/// `(path, method)` of every `.route(…)` in the API modules' source.
fn routes() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    source_files(&repository().join("host/src/api"), &mut files);
    let texts: Vec<String> = files
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap())
        .collect();
    // `const NAME: &str = "…";` of every file, for paths spelled with a constant.
    let mut constants = BTreeMap::new();
    for text in &texts {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("const ") {
            rest = &rest[at + "const ".len()..];
            if let Some((name, tail)) = rest.split_once(": &str = \"")
                && let Some((value, _)) = tail.split_once('"')
                && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                constants.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    let mut routes = BTreeSet::new();
    for (file, text) in files.iter().zip(&texts) {
        let code = text
            .find("#[cfg(test)]\nmod tests")
            .map_or(text.as_str(), |at| &text[..at]);
        let mut rest = code;
        while let Some(at) = rest.find(".route(") {
            let arguments = balanced(&rest[at + ".route(".len()..]);
            rest = &rest[at + ".route(".len()..];
            let (first, methods) = split_first_argument(arguments);
            let path = path_of(first.trim(), &constants)
                .unwrap_or_else(|| panic!("{}: cannot read the path {first:?}", file.display()));
            let methods = methods_of(methods);
            assert!(
                !methods.is_empty(),
                "{}: no method in {arguments:?}",
                file.display()
            );
            for method in methods {
                routes.insert((path.clone(), method));
            }
        }
    }
    routes
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text up to the parenthesis that closes the one `text` follows.
fn balanced(text: &str) -> &str {
    let mut depth = 0usize;
    let mut in_string = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string && depth == 0 => return &text[..i],
            ')' if !in_string => depth -= 1,
            _ => {}
        }
    }
    text
}

/// The first argument and the rest, split at the first comma outside parentheses and strings.
fn split_first_argument(arguments: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let mut in_string = false;
    for (i, c) in arguments.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => return (&arguments[..i], &arguments[i + 1..]),
            _ => {}
        }
    }
    (arguments, "")
}

/// A path spelled `"/a/{id}"`, `CONSTANT` or `&format!("{CONSTANT}/{{id}}")`.
fn path_of(expression: &str, constants: &BTreeMap<String, String>) -> Option<String> {
    if let Some(literal) = expression.strip_prefix('"') {
        return Some(literal.strip_suffix('"')?.to_owned());
    }
    if let Some(value) = constants.get(expression) {
        return Some(value.clone());
    }
    let template = expression
        .strip_prefix("&format!(\"")?
        .strip_suffix("\")")?;
    let mut path = template.replace("{{", "\u{1}").replace("}}", "\u{2}");
    for (name, value) in constants {
        path = path.replace(&format!("{{{name}}}"), value);
    }
    if path.contains('{') {
        return None;
    }
    Some(path.replace('\u{1}', "{").replace('\u{2}', "}"))
}

/// The HTTP methods a method router expression names (`get(a).post(b)`).
fn methods_of(expression: &str) -> Vec<String> {
    let mut methods = Vec::new();
    for method in ["get", "post", "put", "delete", "patch"] {
        let mut rest = expression;
        while let Some(at) = rest.find(&format!("{method}(")) {
            let before = rest[..at].chars().next_back();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                methods.push(method.to_owned());
                break;
            }
            rest = &rest[at + 1..];
        }
    }
    methods
}
