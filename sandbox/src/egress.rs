//! The egress guard: the one way a request leaves the host, for URL handlers and components
//! alike.
//!
//! Rules, in the order they are applied:
//! - only `https://` (the operator setting `outbound.allow_insecure`, for development and
//!   tests, also allows `http://` and non-global targets);
//! - IP-literal URLs are classified before anything is sent; the URL parser normalises decimal,
//!   octal and hex IPv4 spellings (`https://2130706433/`, `0x7f.1`) to addresses first;
//! - names are resolved by the guarded resolver, which hands the connector only global
//!   addresses: every address actually connected to has been classified, so DNS tricks (a name
//!   resolving to 127.0.0.1) do not get through;
//! - redirects are never followed; proxies from the environment (`HTTPS_PROXY`, …) are
//!   ignored. An explicit `outbound.proxy` is used for every request; the target is vetted
//!   before the request goes to the proxy (IP literals classified, names resolved here and
//!   refused when any address is not global). The proxy resolves the name again: a name whose
//!   answers change between the two lookups is the proxy's to refuse.
//!
//! Non-global: unspecified, loopback, private, link-local (cloud metadata included), CGNAT,
//! broadcast, multicast, documentation, benchmarking, reserved, and every IPv6 address outside
//! global unicast `2000::/3` (IPv4-compatible, IPv4-translated `::ffff:0:a.b.c.d`, NAT64,
//! discard, unique-local, link-local) or inside its special ranges (6to4, Teredo, ORCHID,
//! documentation). IPv4-mapped addresses (`::ffff:a.b.c.d`) are classified as their IPv4
//! address.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

/// Whether `ip` is a public unicast address the host may connect to.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata included
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || a >= 240) // reserved
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    (s[0] & 0xe000) == 0x2000 // global unicast 2000::/3
        && s[0] != 0x2002 // 6to4
        && !(s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23 (Teredo, ORCHID, …)
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && (s[0] & 0xfff0) != 0x3ff0 // documentation 3fff::/20
}

/// Why a request may not leave the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not `https://` (and insecure targets are not allowed).
    #[error("only https:// URLs may be called (got {0})")]
    Scheme(String),
    /// The URL does not parse or has no host.
    #[error("invalid URL: {0}")]
    Invalid(String),
    /// It points at a non-global address.
    #[error("the target address {0} is not a public address")]
    Address(IpAddr),
    /// Its host name resolves to a non-global address.
    #[error("{host} resolves to {ip}, which is not a public address")]
    Name {
        /// The name.
        host: String,
        /// The address it resolves to.
        ip: IpAddr,
    },
    /// Its host name does not resolve.
    #[error("{0} resolves to no address")]
    Unresolved(String),
}

/// Checks a URL's scheme and, for IP literals, its address.
pub fn check_url(url: &str, allow_insecure: bool) -> Result<url::Url, Refusal> {
    check_url_trusting(url, allow_insecure, &[])
}

/// [`check_url`], allowing `http://` and any address for the `trusted` addresses.
fn check_url_trusting(
    url: &str,
    allow_insecure: bool,
    trusted: &[SocketAddr],
) -> Result<url::Url, Refusal> {
    let parsed = url::Url::parse(url).map_err(|e| Refusal::Invalid(e.to_string()))?;
    let ip = literal_ip(&parsed)?;
    let is_trusted = match (ip, parsed.port_or_known_default()) {
        (Some(ip), Some(port)) => trusted.contains(&SocketAddr::new(ip, port)),
        _ => false,
    };
    let insecure = allow_insecure || is_trusted;
    match parsed.scheme() {
        "https" => {}
        "http" if insecure => {}
        other => return Err(Refusal::Scheme(format!("{other}://"))),
    }
    if let Some(ip) = ip
        && !insecure
        && !is_global(ip)
    {
        return Err(Refusal::Address(ip));
    }
    Ok(parsed)
}

/// The URL's host as an address when it is an IP literal.
fn literal_ip(url: &url::Url) -> Result<Option<IpAddr>, Refusal> {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => Ok(Some(IpAddr::V4(v4))),
        Some(url::Host::Ipv6(v6)) => Ok(Some(IpAddr::V6(v6))),
        Some(url::Host::Domain(_)) => Ok(None),
        None => Err(Refusal::Invalid("no host".into())),
    }
}

/// Checks an `allowedHosts` entry: a lowercase host name or IP literal, optionally with a port
/// (`name`, `name:port`, `a.b.c.d:port`, `[v6]:port`). An IP literal of a non-global range, and
/// `localhost`, are refused unless `allow_insecure`. Returns the entry.
pub fn check_allowed_host(entry: &str, allow_insecure: bool) -> Result<String, String> {
    check_allowed_host_trusting(entry, allow_insecure, &[])
}

fn check_allowed_host_trusting(
    entry: &str,
    allow_insecure: bool,
    trusted: &[SocketAddr],
) -> Result<String, String> {
    const SHAPE: &str = "must be a lowercase host name or IP address, optionally with :port, \
                         without scheme or path (IPv6 in brackets: [2001:db8::1]:8443)";
    if entry.is_empty() || entry.len() > 260 || entry.contains("://") || entry.contains('/') {
        return Err(format!("{entry:?}: {SHAPE}"));
    }
    if entry.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("{entry:?} must be lowercase"));
    }
    let (host, port) = split_host_port(entry).ok_or_else(|| format!("{entry:?}: {SHAPE}"))?;
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && !port.starts_with('0') => {}
            _ => {
                return Err(format!(
                    "{entry:?}: the port must be a number from 1 to 65535"
                ));
            }
        }
    }
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => Some(IpAddr::V6(
            v6.parse().map_err(|_| format!("{entry:?}: {SHAPE}"))?,
        )),
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    };
    let port_number = port.and_then(|p| p.parse::<u16>().ok());
    let is_trusted = matches!((ip, port_number), (Some(ip), Some(port)) if trusted.contains(&SocketAddr::new(ip, port)));
    match ip {
        Some(ip) if !allow_insecure && !is_trusted && !is_global(ip) => {
            return Err(format!(
                "{entry:?}: {ip} is not a public address; components may only call public hosts"
            ));
        }
        Some(_) => {}
        None => {
            let label_ok = |label: &str| {
                (1..=63).contains(&label.len())
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            };
            if host.len() > 253 || !host.split('.').all(label_ok) {
                return Err(format!("{entry:?}: {SHAPE}"));
            }
            // Names that are all digits and dots would be read as an IPv4 address by the URL
            // parser (`1.2.3` is 1.2.0.3): refuse them rather than guess.
            if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return Err(format!("{entry:?}: not a valid IPv4 address"));
            }
            if !allow_insecure && (host == "localhost" || host.ends_with(".localhost")) {
                return Err(format!(
                    "{entry:?}: localhost is not a public host; components may only call public hosts"
                ));
            }
        }
    }
    Ok(entry.to_owned())
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(entry: &str) -> Option<(&str, Option<&str>)> {
    if entry.starts_with('[') {
        let end = entry.find(']')?;
        let (host, rest) = entry.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match entry.split_once(':') {
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((entry, None)),
    }
}

/// `outbound` settings the guard needs.
#[derive(Debug, Clone, Default)]
pub struct EgressConfig {
    /// Allow `http://` and non-global targets (development and tests only).
    pub allow_insecure: bool,
    /// An explicit forward proxy for every request (`http://proxy:3128`).
    pub proxy: Option<String>,
    /// Addresses (`ip:port`) allowed although not public, over `http://` too: a service of
    /// the operator's own (the demo's newsletter sink). Names are never trusted.
    pub trusted: Vec<SocketAddr>,
}

/// A name that resolves only to addresses the guard refuses. Travels inside reqwest's error
/// (as its source) so the call can be reported as refused rather than as a network failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RefusedName(Refusal);

/// A resolver that keeps only global addresses.
#[derive(Debug, Clone)]
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            match resolve_global(name.as_str()).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // A refusal travels as its own type; a name that does not resolve is a plain
                // network failure (it may resolve later).
                Err(refusal @ Refusal::Name { .. }) => Err(Box::new(RefusedName(refusal)) as _),
                Err(other) => Err(other.to_string().into()),
            }
        })
    }
}

/// The global addresses `host` resolves to; refused when there is none.
async fn resolve_global(host: &str) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| Refusal::Unresolved(host.to_owned()))?
        .collect();
    let allowed: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| is_global(a.ip()))
        .collect();
    match (allowed.is_empty(), addrs.first()) {
        (false, _) => Ok(allowed),
        (true, Some(first)) => Err(Refusal::Name {
            host: host.to_owned(),
            ip: first.ip(),
        }),
        (true, None) => Err(Refusal::Unresolved(host.to_owned())),
    }
}

/// Installs the process's TLS crypto provider (several are linked, so rustls picks none by
/// itself). Idempotent.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is already installed, which is what we want.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

struct Inner {
    config: EgressConfig,
    proxy: Option<reqwest::Proxy>,
    /// One client per connect timeout (a reqwest client has one); in practice one or two.
    clients: Mutex<HashMap<Duration, reqwest::Client>>,
}

/// The egress guard and its HTTP clients. Cheap to clone.
#[derive(Clone)]
pub struct Egress(Arc<Inner>);

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("allow_insecure", &self.0.config.allow_insecure)
            .field("proxy", &self.0.config.proxy)
            .finish()
    }
}

impl Default for Egress {
    /// The secure guard without a proxy.
    fn default() -> Self {
        Egress::new(EgressConfig::default()).expect("no proxy to parse")
    }
}

impl Egress {
    /// A guard with `config`; fails when the proxy URL is not usable.
    pub fn new(config: EgressConfig) -> anyhow::Result<Self> {
        install_crypto_provider();
        let proxy = match &config.proxy {
            None => None,
            Some(url) => {
                let parsed = url::Url::parse(url)
                    .map_err(|e| anyhow::anyhow!("outbound.proxy {url:?}: {e}"))?;
                anyhow::ensure!(
                    matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some(),
                    "outbound.proxy {url:?}: must be an http:// or https:// URL with a host"
                );
                Some(reqwest::Proxy::all(url.as_str())?)
            }
        };
        Ok(Egress(Arc::new(Inner {
            config,
            proxy,
            clients: Mutex::new(HashMap::new()),
        })))
    }

    /// Whether `http://` and non-global targets are allowed.
    pub fn allow_insecure(&self) -> bool {
        self.0.config.allow_insecure
    }

    /// Whether requests go through an explicit proxy.
    pub fn proxied(&self) -> bool {
        self.0.proxy.is_some()
    }

    /// Checks an `allowedHosts` entry (see [`check_allowed_host`]) under this guard's
    /// settings.
    pub fn check_allowed_host(&self, entry: &str) -> Result<String, String> {
        check_allowed_host_trusting(entry, self.allow_insecure(), &self.0.config.trusted)
    }

    /// Checks `url` before anything is sent: scheme, IP literal and, when requests go through
    /// a proxy (which resolves names itself), every address the name resolves to.
    pub async fn vet(&self, url: &str) -> Result<url::Url, Refusal> {
        let insecure = self.allow_insecure();
        let parsed = check_url_trusting(url, insecure, &self.0.config.trusted)?;
        if self.proxied()
            && !insecure
            && let Some(url::Host::Domain(host)) = parsed.host()
        {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|_| Refusal::Unresolved(host.to_owned()))?
                .collect();
            if addrs.is_empty() {
                return Err(Refusal::Unresolved(host.to_owned()));
            }
            if let Some(bad) = addrs.iter().find(|a| !is_global(a.ip())) {
                return Err(Refusal::Name {
                    host: host.to_owned(),
                    ip: bad.ip(),
                });
            }
        }
        Ok(parsed)
    }

    /// The client for requests with this connect timeout: no redirects, no environment
    /// proxies, the guarded resolver (unless insecure targets are allowed or a proxy resolves).
    pub fn client(&self, connect_timeout: Duration) -> reqwest::Client {
        let mut clients = self.0.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&connect_timeout) {
            return client.clone();
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
            .user_agent(concat!("hookhost/", env!("CARGO_PKG_VERSION")));
        match &self.0.proxy {
            Some(proxy) => builder = builder.proxy(proxy.clone()),
            None if !self.allow_insecure() => {
                builder = builder.dns_resolver(Arc::new(GuardedResolver));
            }
            None => {}
        }
        let client = builder.build().unwrap_or_else(|error| {
            // Only a broken TLS backend fails here; requests then fail with the reason.
            tracing::error!(error = %error, "building the outbound HTTP client failed");
            reqwest::Client::new()
        });
        clients.insert(connect_timeout, client.clone());
        client
    }

    /// The guard's refusal inside a failed request's error, if that is why it failed.
    pub fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(RefusedName(refusal)) = e.downcast_ref::<RefusedName>() {
                return Some(refusal.clone());
            }
            next = e.source();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn non_global_addresses_are_refused_in_every_spelling() {
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:0:127.0.0.1]/",
            "https://[::ffff:0:8.8.8.8]/",
            "https://[::127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://100.64.0.1/",
            "https://192.168.1.1/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://[2002:7f00:1::]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b:1::a00:1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[2001:db8::1]/",
            "https://[3fff::1]/",
            "https://[100::1]/",
            "https://[ff02::1]/",
            "https://0.0.0.0/",
            "https://[::]/",
        ] {
            assert!(
                matches!(check_url(url, false), Err(Refusal::Address(_))),
                "{url}"
            );
        }
        assert!(check_url("https://93.184.215.14/", false).is_ok());
        assert!(check_url("https://[::ffff:93.184.215.14]/", false).is_ok());
        assert!(check_url("https://[2606:4700::1111]/", false).is_ok());
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(matches!(
            check_url("http://example.com/", false),
            Err(Refusal::Scheme(_))
        ));
        assert!(matches!(
            check_url("ftp://example.com/", true),
            Err(Refusal::Scheme(_))
        ));
        assert!(check_url("http://127.0.0.1:8080/", true).is_ok());
    }

    #[test]
    fn allowed_hosts_are_names_or_public_addresses_with_an_optional_port() {
        for ok in [
            "api.example.com",
            "api.example.com:8443",
            "93.184.215.14",
            "93.184.215.14:443",
            "[2606:4700::1111]",
            "[2606:4700::1111]:8443",
        ] {
            assert_eq!(check_allowed_host(ok, false).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "API.example.com",
            "https://api.example.com",
            "api.example.com/path",
            "api.example.com:0",
            "api.example.com:99999",
            "api.example.com:",
            "*.example.com",
            "-bad.example.com",
            "a..b",
            "::1",
            "[::1",
            "[::1]x",
            "1.2.3",
            "127.0.0.1:47999",
            "169.254.169.254",
            "10.0.0.1:80",
            "localhost",
            "admin.localhost:8080",
            "[::1]:8443",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(check_allowed_host(bad, false).is_err(), "{bad}");
        }
        for insecure_ok in ["127.0.0.1:47999", "localhost", "[::1]:8443", "10.0.0.1"] {
            assert!(
                check_allowed_host(insecure_ok, true).is_ok(),
                "{insecure_ok}"
            );
        }
        let trusted = ["127.0.0.1:47999".parse().unwrap()];
        assert!(check_allowed_host_trusting("127.0.0.1:47999", false, &trusted).is_ok());
        assert!(check_allowed_host_trusting("127.0.0.1:48000", false, &trusted).is_err());
        assert!(check_allowed_host_trusting("127.0.0.1", false, &trusted).is_err());
        assert!(check_url_trusting("http://127.0.0.1:47999/x", false, &trusted).is_ok());
        assert!(check_url_trusting("http://127.0.0.1:48000/x", false, &trusted).is_err());
        let message = check_allowed_host("169.254.169.254", false).unwrap_err();
        assert!(message.contains("169.254.169.254"), "{message}");
    }

    fn non_global_v4() -> impl Strategy<Value = Ipv4Addr> {
        prop_oneof![
            any::<[u8; 3]>().prop_map(|[b, c, d]| Ipv4Addr::new(127, b, c, d)),
            any::<[u8; 3]>().prop_map(|[b, c, d]| Ipv4Addr::new(10, b, c, d)),
            any::<[u8; 3]>().prop_map(|[b, c, d]| Ipv4Addr::new(0, b, c, d)),
            (16u8..32, any::<[u8; 2]>()).prop_map(|(b, [c, d])| Ipv4Addr::new(172, b, c, d)),
            any::<[u8; 2]>().prop_map(|[c, d]| Ipv4Addr::new(192, 168, c, d)),
            any::<[u8; 2]>().prop_map(|[c, d]| Ipv4Addr::new(169, 254, c, d)),
            (64u8..128, any::<[u8; 2]>()).prop_map(|(b, [c, d])| Ipv4Addr::new(100, b, c, d)),
            (224u8..=255, any::<[u8; 3]>()).prop_map(|(a, [b, c, d])| Ipv4Addr::new(a, b, c, d)),
            (18u8..20, any::<[u8; 2]>()).prop_map(|(b, [c, d])| Ipv4Addr::new(198, b, c, d)),
        ]
    }

    /// Every way of writing an IPv4 address in a URL host that the URL parser accepts.
    fn spellings(ip: Ipv4Addr) -> Vec<String> {
        let n = u32::from(ip);
        let [a, b, c, d] = ip.octets();
        let v6 = |segments: [u16; 8]| format!("[{}]", Ipv6Addr::from(segments));
        let (hi, lo) = ((n >> 16) as u16, n as u16);
        vec![
            ip.to_string(),
            n.to_string(),
            format!("0x{n:x}"),
            format!("0{n:o}"),
            format!("0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}"),
            format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
            format!("{a}.{}", (b as u32) << 16 | (c as u32) << 8 | d as u32),
            format!("{a}.{b}.{}", (c as u32) << 8 | d as u32),
            format!("[::ffff:{ip}]"),
            v6([0, 0, 0, 0, 0, 0xffff, hi, lo]),
            v6([0, 0, 0, 0, 0xffff, 0, hi, lo]),
            v6([0, 0, 0, 0, 0, 0, hi, lo]),
            v6([0x64, 0xff9b, 0, 0, 0, 0, hi, lo]),
            v6([0x2002, hi, lo, 0, 0, 0, 0, 1]),
            v6([0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, !hi, !lo]),
        ]
    }

    proptest! {
        #[test]
        fn no_spelling_of_a_non_global_ipv4_address_gets_through(ip in non_global_v4()) {
            for host in spellings(ip) {
                let url = format!("https://{host}/x");
                prop_assert!(
                    matches!(check_url(&url, false), Err(Refusal::Address(_))),
                    "{url} was not refused"
                );
            }
        }

        #[test]
        fn ipv6_outside_global_unicast_is_refused(segments in any::<[u16; 8]>()) {
            let ip = Ipv6Addr::from(segments);
            if (segments[0] & 0xe000) != 0x2000 && ip.to_ipv4_mapped().is_none() {
                prop_assert!(!is_global(IpAddr::V6(ip)), "{ip}");
            }
        }

        #[test]
        fn unique_local_link_local_and_multicast_v6_are_refused(rest in any::<[u16; 7]>(), which in 0usize..3) {
            let first = [0xfc00 | (rest[0] & 0x1ff), 0xfe80 | (rest[0] & 0x3f), 0xff00 | (rest[0] & 0xff)][which];
            let mut segments = [0u16; 8];
            segments[0] = first;
            segments[1..].copy_from_slice(&rest);
            prop_assert!(!is_global(IpAddr::V6(Ipv6Addr::from(segments))));
        }

        #[test]
        fn mapped_addresses_are_classified_as_their_ipv4(ip in any::<[u8; 4]>()) {
            let v4 = Ipv4Addr::from(ip);
            prop_assert_eq!(is_global(IpAddr::V6(v4.to_ipv6_mapped())), is_global(IpAddr::V4(v4)));
        }
    }
}
