//! The operator's operations: providers, tenants, services, activations, smartml API users
//! and REST API keys.
//!
//! Plain functions over the [`Store`] ([`create_provider`], [`activate`], …), called by the
//! admin API (`api::admin`), by `hookhost admin …` and by the demo's seeding, so all of them
//! validate the same way, refuse the same things and show the same objects. Credentials
//! (provider tokens, smartml token + secret, REST API keys) appear only in the answer that
//! creates them; no list or later read contains them, because the store keeps only their
//! hashes (and the smartml secret encrypted, for HMAC checks).

use crate::crypto::MasterKey;
use crate::exec::Executor;
use crate::store::{Listing, Scope, Store, StoreError, lists};
use crate::time::format_ms;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why an admin operation was refused. The CLI prints it; the API maps it to a [`Problem`].
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// An input value is invalid; `field` is its name in the API's JSON body.
    #[error("{field}: {message}")]
    Invalid {
        /// The JSON name of the field (`name`, `acceptedParameters[1]`, `parameters.x`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A referenced object does not exist; the text names it (`tenant TEN-…`).
    #[error("{0} not found")]
    NotFound(String),
    /// The store refused the change (e.g. another tenant's private service).
    #[error("{0}")]
    Forbidden(String),
    /// The change conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// A plugin of the service refused the activation's parameters (its own messages, by
    /// the JSON name of the parameter: `parameters.list_id`).
    #[error("the service's plugin refused the activation: {}", refusals(.0))]
    Refused(Vec<(String, String)>),
    /// A plugin's activation check could not run (it trapped, timed out, …).
    #[error("{0}")]
    CheckFailed(String),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Forbidden(message) => AdminError::Forbidden(message),
            StoreError::Conflict(message) => AdminError::Conflict(message),
            error => AdminError::Store(error),
        }
    }
}

/// `parameters.list_id: …; parameters.api_key: …`
fn refusals(problems: &[(String, String)]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect();
    parts.join("; ")
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Maps the store's bare `NotFound` to one naming `what`.
fn naming(what: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> AdminError {
    move |error| match error {
        StoreError::NotFound => AdminError::NotFound(what()),
        error => error.into(),
    }
}

/// Longest display name: long enough for any company name, short enough for a log line.
const MAX_NAME_CHARS: usize = 200;
/// Longest parameter name.
const MAX_PARAMETER_NAME_CHARS: usize = 128;
/// Longest activation parameter value (URLs, API keys, comma-separated lists).
const MAX_PARAMETER_VALUE_CHARS: usize = 8192;

/// A display name, trimmed: non-empty, at most [`MAX_NAME_CHARS`], no control characters.
fn valid_name(field: &str, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// A parameter name: what plugins pass to `config(key)` and process steps put on URLs, so no
/// whitespace or control characters and a bounded length.
fn check_parameter_name(field: &str, name: &str) -> Result<(), AdminError> {
    if name.is_empty() {
        return Err(invalid(field, "a parameter name must not be empty"));
    }
    if name.chars().count() > MAX_PARAMETER_NAME_CHARS {
        return Err(invalid(
            field,
            format!("a parameter name must be at most {MAX_PARAMETER_NAME_CHARS} characters"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '=')
    {
        return Err(invalid(
            field,
            format!(
                "{name:?}: a parameter name must not contain whitespace, control characters or '='"
            ),
        ));
    }
    Ok(())
}

/// A provider as the admin API shows it (never with its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    /// `PRV-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the host's e-mails about its webhooks go (circuit opened, disabled by the host).
    pub contact_email: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A provider just created, with the API token it will never be shown again.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProvider {
    /// The provider.
    #[serde(flatten)]
    pub provider: ProviderView,
    /// Bearer token of the registry and components APIs; only its hash is stored.
    pub token: String,
}

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    /// `TEN-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the host's e-mails about its private webhooks go (circuit opened, disabled by
    /// the host).
    pub contact_email: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A service as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    /// `SVC-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// The provider offering it, for a marketplace service.
    pub provider_id: Option<String>,
    /// The tenant owning it, for a private service.
    pub tenant_id: Option<String>,
    /// Parameter names the service accepts (activations, process steps); `prefix.*` names a
    /// family.
    pub accepted_parameters: Vec<String>,
    /// Accepted parameters whose values are secrets: sealed at rest, masked when shown.
    pub secret_parameters: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// An activation as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationView {
    /// The tenant.
    pub tenant_id: String,
    /// The service.
    pub service_id: String,
    /// Values the service's plugins read through `config`; secret ones masked.
    pub parameters: BTreeMap<String, String>,
    /// When the tenant first activated the service (RFC 3339).
    pub created_at: String,
}

/// An activation as listed: with the names of its tenant and service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedActivationView {
    /// The activation.
    #[serde(flatten)]
    pub activation: ActivationView,
    /// The tenant's name.
    pub tenant_name: String,
    /// The service's name.
    pub service_name: String,
}

/// A page of the activations `scope` may see (`None`: all of them, for the operator): a
/// provider sees the activations of its services, a tenant its own.
pub async fn list_activations_matching(
    store: &Store,
    scope: Option<&crate::store::Scope>,
    listing: &Listing<lists::Activations>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ListedActivationView>, i64), AdminError> {
    let (activations, total) = store
        .list_activations_matching(scope, listing, offset, limit)
        .await?;
    let views = activations
        .into_iter()
        .map(|listed| ListedActivationView {
            activation: ActivationView {
                tenant_id: listed.activation.tenant_id,
                service_id: listed.activation.service_id,
                parameters: listed.activation.parameters,
                created_at: format_ms(listed.activation.created_at),
            },
            tenant_name: listed.tenant_name,
            service_name: listed.service_name,
        })
        .collect();
    Ok((views, total))
}

/// A smartml API user just created, with its token and secret (shown once).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApiUser {
    /// `USR-…`
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Marketplace API users get errorcode 240 on `executeMarketplaceWebhooks`.
    pub marketplace: bool,
    /// 32 characters; only its hash is stored.
    pub token: String,
    /// 64 characters; stored encrypted with the master key (HMACs are checked with it).
    pub secret: String,
}

/// A REST API key just created (shown once).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    /// `KEY-…`: what `deactivate` takes.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The key (`rest_api_key=<key>` or `Bearer <key>`); only its hash is stored.
    pub key: String,
}

fn provider_view(p: crate::store::Provider) -> ProviderView {
    ProviderView {
        id: p.id,
        name: p.name,
        contact_email: p.contact_email,
        created_at: format_ms(p.created_at),
    }
}

fn tenant_view(t: crate::store::Tenant) -> TenantView {
    TenantView {
        id: t.id,
        name: t.name,
        contact_email: t.contact_email,
        created_at: format_ms(t.created_at),
    }
}

fn service_view(s: crate::store::Service) -> ServiceView {
    ServiceView {
        id: s.id,
        name: s.name,
        provider_id: s.provider_id,
        tenant_id: s.tenant_id,
        accepted_parameters: s.accepted_parameters,
        secret_parameters: s.secret_parameters,
        created_at: format_ms(s.created_at),
    }
}

/// A contact e-mail address, checked as the mailer will parse it (`None`: no e-mail).
fn valid_contact(field: &str, email: Option<&str>) -> Result<Option<String>, AdminError> {
    let Some(email) = email.map(str::trim) else {
        return Ok(None);
    };
    if email.len() > 254 {
        return Err(invalid(field, "must be at most 254 characters"));
    }
    if !crate::mail::is_address(email) {
        return Err(invalid(
            field,
            format!("{email:?} is not an e-mail address (name@example.com)"),
        ));
    }
    Ok(Some(email.to_owned()))
}

/// Creates a provider, with the address the host's e-mails about its webhooks go to, if
/// any; the answer carries its API token, this once.
pub async fn create_provider(
    store: &Store,
    name: &str,
    contact_email: Option<&str>,
) -> Result<NewProvider, AdminError> {
    let name = valid_name("name", name)?;
    let contact_email = valid_contact("contactEmail", contact_email)?;
    let (provider, token) = store
        .create_provider_with(&name, contact_email.as_deref())
        .await?;
    Ok(NewProvider {
        provider: provider_view(provider),
        token,
    })
}

/// All providers, oldest first.
pub async fn list_providers(store: &Store) -> Result<Vec<ProviderView>, AdminError> {
    Ok(store
        .list_providers()
        .await?
        .into_iter()
        .map(provider_view)
        .collect())
}

/// A page of the providers `listing` keeps, in its order, and how many there are in all.
pub async fn list_providers_matching(
    store: &Store,
    listing: &Listing<lists::Providers>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ProviderView>, i64), AdminError> {
    let (providers, total) = store
        .list_providers_matching(listing, offset, limit)
        .await?;
    Ok((providers.into_iter().map(provider_view).collect(), total))
}

/// Creates a tenant, with the address the host's e-mails about its private webhooks go to,
/// if any.
pub async fn create_tenant(
    store: &Store,
    name: &str,
    contact_email: Option<&str>,
) -> Result<TenantView, AdminError> {
    let name = valid_name("name", name)?;
    let contact_email = valid_contact("contactEmail", contact_email)?;
    Ok(tenant_view(
        store
            .create_tenant_with(&name, contact_email.as_deref())
            .await?,
    ))
}

/// Sets the contact e-mail of provider `id` (`None`: no e-mails).
pub async fn set_provider_contact(
    store: &Store,
    id: &str,
    contact_email: Option<&str>,
) -> Result<ProviderView, AdminError> {
    let contact_email = valid_contact("contactEmail", contact_email)?;
    let owner = Scope::Provider(id.to_owned());
    match store
        .set_contact_email(&owner, contact_email.as_deref())
        .await
    {
        Err(StoreError::NotFound) => Err(AdminError::NotFound(format!("provider {id}"))),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(provider_view(store.provider(id).await?)),
    }
}

/// Sets the contact e-mail of tenant `id` (`None`: no e-mails).
pub async fn set_tenant_contact(
    store: &Store,
    id: &str,
    contact_email: Option<&str>,
) -> Result<TenantView, AdminError> {
    let contact_email = valid_contact("contactEmail", contact_email)?;
    let owner = Scope::Tenant(id.to_owned());
    match store
        .set_contact_email(&owner, contact_email.as_deref())
        .await
    {
        Err(StoreError::NotFound) => Err(AdminError::NotFound(format!("tenant {id}"))),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(tenant_view(store.tenant(id).await?)),
    }
}

/// All tenants, oldest first.
pub async fn list_tenants(store: &Store) -> Result<Vec<TenantView>, AdminError> {
    Ok(store
        .list_tenants()
        .await?
        .into_iter()
        .map(tenant_view)
        .collect())
}

/// A page of the tenants `listing` keeps, in its order, and how many there are in all.
pub async fn list_tenants_matching(
    store: &Store,
    listing: &Listing<lists::Tenants>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<TenantView>, i64), AdminError> {
    let (tenants, total) = store.list_tenants_matching(listing, offset, limit).await?;
    Ok((tenants.into_iter().map(tenant_view).collect(), total))
}

/// Creates a service owned by `owner`: a provider's marketplace service or a tenant's private
/// one. The owner must exist (404 naming it otherwise); parameter names must be distinct.
/// `secret_parameters` are accepted too, and their activation values are secrets.
pub async fn create_service(
    store: &Store,
    owner: &Scope,
    name: &str,
    accepted_parameters: &[String],
    secret_parameters: &[String],
) -> Result<ServiceView, AdminError> {
    let name = valid_name("name", name)?;
    for (list, parameters) in [
        ("acceptedParameters", accepted_parameters),
        ("secretParameters", secret_parameters),
    ] {
        let mut seen = BTreeSet::new();
        for (index, parameter) in parameters.iter().enumerate() {
            let field = format!("{list}[{index}]");
            check_parameter_name(&field, parameter)?;
            check_family(&field, parameter)?;
            if !seen.insert(parameter.as_str()) {
                return Err(invalid(field, format!("{parameter:?} is listed twice")));
            }
        }
    }
    // A secret parameter is accepted: it need not be listed twice, and is stored once.
    let mut accepted = accepted_parameters.to_vec();
    for secret in secret_parameters {
        if !accepted.contains(secret) {
            accepted.push(secret.clone());
        }
    }
    match owner {
        // The store has no lookup of one provider; the list is small (operators' data).
        Scope::Provider(id) => {
            if !store.list_providers().await?.iter().any(|p| &p.id == id) {
                return Err(AdminError::NotFound(format!("provider {id}")));
            }
        }
        Scope::Tenant(id) => {
            store
                .tenant(id)
                .await
                .map_err(naming(|| format!("tenant {id}")))?;
        }
    }
    let service = store
        .create_service_with_secrets(owner, &name, &accepted, secret_parameters)
        .await?;
    Ok(service_view(service))
}

/// A `*` only ends a family: `prefix.*` declares every `prefix.<something>`.
fn check_family(field: &str, name: &str) -> Result<(), AdminError> {
    match name.find('*') {
        None => Ok(()),
        Some(at) if at == name.len() - 1 && at >= 2 && name[..at].ends_with('.') => Ok(()),
        Some(_) => Err(invalid(
            field,
            format!("{name:?}: '*' may only end a family, as in \"price_per_sqm.*\""),
        )),
    }
}

/// All services (marketplace and private), oldest first.
pub async fn list_services(store: &Store) -> Result<Vec<ServiceView>, AdminError> {
    Ok(store
        .list_services()
        .await?
        .into_iter()
        .map(service_view)
        .collect())
}

/// A page of the services `listing` keeps, in its order, and how many there are in all.
pub async fn list_services_matching(
    store: &Store,
    listing: &Listing<lists::Services>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ServiceView>, i64), AdminError> {
    let (services, total) = store.list_services_matching(listing, offset, limit).await?;
    Ok((services.into_iter().map(service_view).collect(), total))
}

/// Activates `service_id` for `tenant_id` with `parameters`, or replaces the parameters of an
/// existing activation. Returns the activation (secret values masked) and whether it is new.
///
/// Every parameter must be one the service declares (`acceptedParameters`, `secretParameters`,
/// families such as `price_per_sqm.*` included): anything else would be a typo that no plugin
/// ever reads. Then the components of the service's webhooks that export `activation`
/// (`marketplace:webhook@0.2.0`) check them, and refuse with their own messages: nothing is
/// written unless every check passes. Secret values are sealed with `key`.
pub async fn activate(
    store: &Store,
    checks: &Executor,
    key: &MasterKey,
    tenant_id: &str,
    service_id: &str,
    parameters: &BTreeMap<String, String>,
) -> Result<(ActivationView, bool), AdminError> {
    for (name, value) in parameters {
        let field = format!("parameters.{name}");
        check_parameter_name(&field, name)?;
        if value.chars().count() > MAX_PARAMETER_VALUE_CHARS {
            return Err(invalid(
                field,
                format!("a value must be at most {MAX_PARAMETER_VALUE_CHARS} characters"),
            ));
        }
    }
    // Checked here, in this order, so a 404 names what is missing (the store's does not).
    store
        .tenant(tenant_id)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    let service = store
        .service(service_id)
        .await
        .map_err(naming(|| format!("service {service_id}")))?;
    if let Some(name) = parameters.keys().find(|name| !service.accepts(name)) {
        let accepted = if service.accepted_parameters.is_empty() {
            "it declares none".to_owned()
        } else {
            format!("it declares {}", service.accepted_parameters.join(", "))
        };
        return Err(invalid(
            format!("parameters.{name}"),
            format!("service {service_id} does not declare the parameter {name:?}: {accepted}"),
        ));
    }
    let problems = checks
        .check_activation(tenant_id, service_id, parameters)
        .await
        .map_err(AdminError::CheckFailed)?;
    if !problems.is_empty() {
        return Err(AdminError::Refused(
            problems
                .into_iter()
                .map(|p| {
                    let field = if p.parameter.is_empty() {
                        "parameters".to_owned()
                    } else {
                        format!("parameters.{}", p.parameter)
                    };
                    (field, p.message)
                })
                .collect(),
        ));
    }
    let previous = store.activation(tenant_id, service_id).await?;
    let activation = store
        .activate(key, tenant_id, service_id, parameters)
        .await
        .map_err(naming(|| format!("service {service_id}")))?;
    // The store keeps the first activation time on an update; show that one.
    let created_at = previous
        .as_ref()
        .map_or(activation.created_at, |p| p.created_at);
    let view = ActivationView {
        tenant_id: activation.tenant_id,
        service_id: activation.service_id,
        parameters: activation.parameters,
        created_at: format_ms(created_at),
    };
    Ok((view, previous.is_none()))
}

/// Creates a smartml API user (token + secret, shown once) for a tenant.
pub async fn create_api_user(
    store: &Store,
    key: &MasterKey,
    tenant_id: &str,
    marketplace: bool,
) -> Result<NewApiUser, AdminError> {
    let created = store
        .create_api_user(key, tenant_id, marketplace)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    Ok(NewApiUser {
        id: created.user.id,
        tenant_id: created.user.tenant_id,
        marketplace: created.user.marketplace,
        token: created.token,
        secret: created.secret,
    })
}

/// Creates a REST API key (shown once) for a tenant.
pub async fn create_api_key(store: &Store, tenant_id: &str) -> Result<NewApiKey, AdminError> {
    let (api_key, key) = store
        .create_api_key(tenant_id)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    Ok(NewApiKey {
        id: api_key.id,
        tenant_id: api_key.tenant_id,
        key,
    })
}

/// Deactivates a tenant's REST API key; it is refused from then on. Deactivating a key twice
/// is not an error.
pub async fn deactivate_api_key(
    store: &Store,
    tenant_id: &str,
    key_id: &str,
) -> Result<(), AdminError> {
    store
        .tenant(tenant_id)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    store
        .deactivate_api_key(tenant_id, key_id)
        .await
        .map_err(naming(|| format!("API key {key_id} of tenant {tenant_id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("name", "  Muster GmbH ").unwrap(), "Muster GmbH");
        for bad in ["", "   ", "a\nb", &"x".repeat(MAX_NAME_CHARS + 1)] {
            let error = valid_name("name", bad).unwrap_err();
            assert!(error.to_string().starts_with("name: "), "{error}");
        }
    }

    #[test]
    fn parameter_names_refuse_what_cannot_round_trip() {
        check_parameter_name("p", "price_per_sqm.default").unwrap();
        for bad in [
            "",
            "a b",
            "k=v",
            "tab\t",
            &"k".repeat(MAX_PARAMETER_NAME_CHARS + 1),
        ] {
            assert!(check_parameter_name("p", bad).is_err(), "{bad:?}");
        }
    }
}
