//! What a component may import and must export, checked when it is loaded.
//!
//! Refusing at load (rather than failing at the first call) gives the provider the verdict at
//! upload time, with the offending import or both WIT versions named.

use super::bindings::{PACKAGE, VERSION};
use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Why a component cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It imports something outside WASI 0.2 and our world.
    #[error(
        "component imports `{import}`, which is outside WASI 0.2 and the {PACKAGE} world; \
         plugins may import only wasi:*@0.2.x interfaces and {PACKAGE}/{{types,host,kv}}"
    )]
    ForeignImport {
        /// The full import name.
        import: String,
    },
    /// It targets a WIT version this host does not serve.
    #[error(
        "component is built against {PACKAGE}@{found}, but this host serves {PACKAGE}@{served} \
         (compatible with {served_range}); rebuild the plugin with a matching hookhost-sdk"
    )]
    UnsupportedVersion {
        /// The version the component was built against.
        found: String,
        /// The version this host serves.
        served: String,
        /// The range of versions this host accepts.
        served_range: String,
    },
    /// It does not export the `plugin` interface.
    #[error("component does not export {PACKAGE}/plugin (its exports: {exports})")]
    MissingExport {
        /// What it exports instead.
        exports: String,
    },
}

/// What `plugin check` and the components API report about a component.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentInfo {
    /// sha256 of the component's bytes, hex.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// The `marketplace:webhook` version it was built against.
    pub wit_version: String,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
}

/// WASI 0.2 interfaces guests may import, as `package/interface`.
const WASI_INTERFACES: &[&str] = &[
    "cli/environment",
    "cli/exit",
    "cli/stdin",
    "cli/stdout",
    "cli/stderr",
    "cli/terminal-input",
    "cli/terminal-output",
    "cli/terminal-stdin",
    "cli/terminal-stdout",
    "cli/terminal-stderr",
    "io/error",
    "io/poll",
    "io/streams",
    "clocks/monotonic-clock",
    "clocks/wall-clock",
    "random/random",
    "random/insecure",
    "random/insecure-seed",
    "filesystem/types",
    "filesystem/preopens",
    "sockets/network",
    "sockets/instance-network",
    "sockets/tcp",
    "sockets/tcp-create-socket",
    "sockets/udp",
    "sockets/udp-create-socket",
    "sockets/ip-name-lookup",
    "http/types",
    "http/outgoing-handler",
];

/// Our interfaces a guest may import.
const OWN_IMPORTS: &[&str] = &["types", "host", "kv"];

/// An interface name split as `namespace:package/interface@version`.
struct Name<'a> {
    package: &'a str,
    interface: &'a str,
    version: Option<&'a str>,
}

fn split(name: &str) -> Option<Name<'_>> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let (package, interface) = path.split_once('/')?;
    Some(Name {
        package,
        interface,
        version,
    })
}

/// `major.minor.patch`, ignoring pre-release and build suffixes.
fn semver(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Whether `found` can be served by a host built for `served` (semver rules: the same major
/// version, and for 0.x the same minor version).
fn compatible(found: &str, served: &str) -> bool {
    match (semver(found), semver(served)) {
        (Some((fa, fb, _)), Some((sa, sb, _))) => fa == sa && (fa > 0 || fb == sb),
        _ => false,
    }
}

fn served_range() -> String {
    match semver(VERSION) {
        Some((0, minor, _)) => format!("0.{minor}.x"),
        Some((major, _, _)) => format!("{major}.x"),
        None => VERSION.to_owned(),
    }
}

fn version_refusal(found: &str) -> Refusal {
    Refusal::UnsupportedVersion {
        found: found.to_owned(),
        served: VERSION.to_owned(),
        served_range: served_range(),
    }
}

/// Checks `component` against the world and describes it.
pub fn check(
    engine: &Engine,
    component: &Component,
    wasm: &[u8],
) -> Result<ComponentInfo, Refusal> {
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();

    // The export first: a component for another major version fails here with both versions
    // named, rather than on its first import.
    let plugin_export = exports
        .iter()
        .filter_map(|e| split(e))
        .find(|n| n.package == PACKAGE && n.interface == "plugin");
    let wit_version = match plugin_export {
        Some(Name {
            version: Some(v), ..
        }) if compatible(v, VERSION) => v.to_owned(),
        Some(Name {
            version: Some(v), ..
        }) => return Err(version_refusal(v)),
        Some(Name { version: None, .. }) => return Err(version_refusal("(unversioned)")),
        None => {
            return Err(Refusal::MissingExport {
                exports: if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                },
            });
        }
    };

    for import in &imports {
        let allowed = match split(import) {
            Some(n) if n.package == PACKAGE && OWN_IMPORTS.contains(&n.interface) => {
                match n.version {
                    Some(v) if compatible(v, VERSION) => true,
                    Some(v) => return Err(version_refusal(v)),
                    None => false,
                }
            }
            Some(n) => n.package.strip_prefix("wasi:").is_some_and(|pkg| {
                let qualified = format!("{pkg}/{}", n.interface);
                WASI_INTERFACES.contains(&qualified.as_str())
                    && n.version
                        .and_then(semver)
                        .is_some_and(|(a, b, _)| a == 0 && b == 2)
            }),
            None => false,
        };
        if !allowed {
            return Err(Refusal::ForeignImport {
                import: import.clone(),
            });
        }
    }

    Ok(ComponentInfo {
        digest: super::digest(wasm),
        size: wasm.len() as u64,
        wit_version,
        imports,
        exports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_compatibility() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.7", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("2.0.0", "1.0.0"));
        assert!(!compatible("garbage", "0.1.0"));
    }

    #[test]
    fn names_split() {
        let n = split("wasi:http/outgoing-handler@0.2.6").unwrap();
        assert_eq!(
            (n.package, n.interface, n.version),
            ("wasi:http", "outgoing-handler", Some("0.2.6"))
        );
        assert!(split("handle").is_none());
    }
}
