//! What a component may import and must export, checked when it is loaded.
//!
//! Refusing at load (rather than failing at the first call) gives the provider the verdict at
//! upload time, with the offending import or both WIT versions named.

use super::bindings::{PACKAGE, SERVED, VERSION};
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
        "component is built against {PACKAGE}@{found}, but this host serves {served} \
         (the current version is {PACKAGE}@{current}); rebuild the plugin with a hookhost-sdk \
         for one of them"
    )]
    UnsupportedVersion {
        /// The version the component was built against.
        found: String,
        /// The versions this host serves, spelled out (`marketplace:webhook@0.1.x, …`).
        served: String,
        /// The current version.
        current: String,
    },
    /// It mixes versions of the contract (an export of one, an import of another).
    #[error(
        "component mixes versions of {PACKAGE}: it exports {PACKAGE}@{exported} and imports \
         `{import}`; build it against one version"
    )]
    MixedVersions {
        /// The version of its exports.
        exported: String,
        /// The import of another version.
        import: String,
    },
    /// It exports neither `plugin` nor `transform`.
    #[error(
        "component exports neither {PACKAGE}/plugin nor {PACKAGE}/transform (its exports: \
         {exports})"
    )]
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
    /// What it offers: handling calls, transforming requests, checking activations.
    pub roles: Roles,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
}

/// The interfaces of ours a component exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    /// It exports `plugin`: it can be a webhook's handler.
    pub handler: bool,
    /// It exports `transform` (since 0.2.0): it can be a URL webhook's transform.
    pub transform: bool,
    /// It exports `activation` (since 0.2.0): the host asks it to check activations.
    pub activation: bool,
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

/// The served version `found` belongs to, if any (semver rules: the same major version, and
/// for 0.x the same minor version; any patch).
fn served_as(found: &str) -> Option<&'static str> {
    let (fa, fb, _) = semver(found)?;
    SERVED
        .iter()
        .copied()
        .find(|served| semver(served).is_some_and(|(sa, sb, _)| fa == sa && (fa > 0 || fb == sb)))
}

/// The served versions as ranges: `marketplace:webhook@0.1.x and marketplace:webhook@0.2.x`.
fn served_ranges() -> String {
    let ranges: Vec<String> = SERVED
        .iter()
        .map(|v| match semver(v) {
            Some((0, minor, _)) => format!("{PACKAGE}@0.{minor}.x"),
            Some((major, _, _)) => format!("{PACKAGE}@{major}.x"),
            None => format!("{PACKAGE}@{v}"),
        })
        .collect();
    match ranges.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn version_refusal(found: &str) -> Refusal {
    Refusal::UnsupportedVersion {
        found: found.to_owned(),
        served: served_ranges(),
        current: VERSION.to_owned(),
    }
}

/// Our interfaces a component of `version` may export: 0.1.0 knew only `plugin`.
fn exportable(version: &str) -> &'static [&'static str] {
    match version {
        "0.1.0" => &["plugin"],
        _ => &["plugin", "transform", "activation"],
    }
}

/// Checks `component` against the world of the version it exports and describes it.
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
    let missing = || Refusal::MissingExport {
        exports: if exports.is_empty() {
            "none".into()
        } else {
            exports.join(", ")
        },
    };

    // The exports first: they say which version the component is built against, and a
    // component of a version this host does not serve fails here with the versions named,
    // rather than on its first import.
    let ours: Vec<Name<'_>> = exports
        .iter()
        .filter_map(|e| split(e))
        .filter(|n| n.package == PACKAGE)
        .collect();
    let Some(first) = ours.first() else {
        return Err(missing());
    };
    let found = first.version.unwrap_or("(unversioned)");
    let Some(served) = served_as(found) else {
        return Err(version_refusal(found));
    };
    let mut roles = Roles::default();
    for name in &ours {
        let version = name.version.unwrap_or("(unversioned)");
        if served_as(version) != Some(served) {
            return Err(version_refusal(version));
        }
        match name.interface {
            "plugin" => roles.handler = true,
            "transform" if exportable(served).contains(&"transform") => roles.transform = true,
            "activation" if exportable(served).contains(&"activation") => roles.activation = true,
            _ => return Err(missing()),
        }
    }
    if !roles.handler && !roles.transform {
        return Err(missing());
    }

    for import in &imports {
        let allowed = match split(import) {
            Some(n) if n.package == PACKAGE && OWN_IMPORTS.contains(&n.interface) => {
                match n.version.map(served_as) {
                    Some(Some(version)) if version == served => true,
                    Some(Some(_)) => {
                        return Err(Refusal::MixedVersions {
                            exported: found.to_owned(),
                            import: import.clone(),
                        });
                    }
                    Some(None) => return Err(version_refusal(n.version.unwrap_or_default())),
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
        wit_version: found.to_owned(),
        roles,
        imports,
        exports,
    })
}

/// The served version a checked component's `wit_version` belongs to.
pub(super) fn served_version(info: &ComponentInfo) -> &'static str {
    served_as(&info.wit_version).unwrap_or(VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_served_by_their_minor_for_0_x() {
        assert_eq!(served_as("0.1.0"), Some("0.1.0"));
        assert_eq!(served_as("0.1.7"), Some("0.1.0"));
        assert_eq!(served_as("0.2.0"), Some("0.2.0"));
        assert_eq!(served_as("0.2.3-rc.1"), Some("0.2.0"));
        assert_eq!(served_as("0.3.0"), None);
        assert_eq!(served_as("1.0.0"), None);
        assert_eq!(served_as("garbage"), None);
    }

    #[test]
    fn a_refusal_names_the_found_and_the_served_versions() {
        let text = version_refusal("0.3.0").to_string();
        assert!(text.contains("marketplace:webhook@0.3.0"), "{text}");
        assert!(
            text.contains("marketplace:webhook@0.1.x and marketplace:webhook@0.2.x"),
            "{text}"
        );
        assert!(text.contains("marketplace:webhook@0.2.0"), "{text}");
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
