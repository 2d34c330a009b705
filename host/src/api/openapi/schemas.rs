//! Schemas of the answers and bodies that the API modules do not spell as types of their own:
//! the shapes of other layers (the store's `Call` and `Statistics`, the admin views, the
//! process manager's JSON), the list envelope, and the query parameters shared by lists.
//!
//! The vocabulary's words get their schema from the vocabulary itself (`NAMES`), and a type of
//! another layer gets its schema through [`mirror!`]: a schema-only struct here, named after
//! it, whose fields the tests compare with what the real type serializes to
//! (`mirrors_name_the_fields_of_their_types` below), so a field added there fails here.

use crate::vocab::{
    CircuitState, Module, MptType, ObjectType, ProcessStatus, RecordModule, StepStatus,
    TriggerSource, WebhookStatus,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// The words of a vocabulary enum as a string enum, in the vocabulary's order.
macro_rules! words {
    ($($word:ty),+ $(,)?) => {$(
        impl PartialSchema for $word {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(<$word>::NAMES.iter().copied()))
                    .into()
            }
        }
        impl ToSchema for $word {}
    )+};
}

words!(
    TriggerSource,
    WebhookStatus,
    CircuitState,
    ProcessStatus,
    StepStatus,
    Module,
    RecordModule,
    MptType,
    ObjectType
);

/// `$type` (of another layer) is documented by the schema-only `$schema` of this file, under
/// `$type`'s name.
macro_rules! mirror {
    ($($type:ty => $schema:ty),+ $(,)?) => {$(
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                <$schema as PartialSchema>::schema()
            }
        }
        impl ToSchema for $type {
            fn name() -> std::borrow::Cow<'static, str> {
                <$schema as ToSchema>::name()
            }
            fn schemas(
                schemas: &mut Vec<(String, RefOr<Schema>)>,
            ) {
                <$schema as ToSchema>::schemas(schemas)
            }
        }
    )+};
}

mirror!(
    crate::store::Statistics => Statistics,
    crate::store::Call => Call,
    crate::store::LoggedCall => LoggedCall,
    crate::store::RetryPolicy => RetryPolicy,
    crate::admin::ProviderView => Provider,
    crate::admin::NewProvider => NewProvider,
    crate::admin::TenantView => Tenant,
    crate::admin::ServiceView => Service,
    crate::admin::ActivationView => Activation,
    crate::admin::ListedActivationView => ListedActivation,
    crate::admin::NewApiUser => NewApiUser,
    crate::admin::NewApiKey => NewApiKey,
    crate::store::TemplateSpec => TemplateSpec,
    crate::process::template::StartRequest => StartRequest,
);

// ---------------------------------------------------------------------------------------------
// Lists

/// `$meta.pagination` of every list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pagination {
    /// Items skipped.
    pub offset: i64,
    /// Items asked for.
    pub limit: i64,
    /// Items there are.
    pub total: i64,
}

/// `$meta` of every list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Where this page is.
    pub pagination: Pagination,
}

/// The list envelope of every API: `{"$meta": {"pagination": …}, "data": […]}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Page<T: ToSchema> {
    /// Where this page is.
    #[serde(rename = "$meta")]
    pub meta: Meta,
    /// The page's items.
    pub data: Vec<T>,
}

/// `?offset=&limit=` of the lists that count from one item (components, admin, processes).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items to skip.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Items to return (default: 10 for components, 100 for admin and process lists).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// RQL order: fields, `-` for descending (`-createdAt,name`). Filters are RQL
    /// expressions as bare query keys (`eq(status,enabled)`, `ilike(name,*x*)`, `and(…)`).
    pub order: Option<String>,
    /// RQL select: `-path` drops a property (or part of one), `path` keeps only those named.
    pub select: Option<String>,
}

/// `?offset=&limit=` of the lists that may ask for no item, only the total (MPT clients count
/// that way): a webhook's calls and notifications.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountingPageQuery {
    /// Items to skip.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Items to return, 10 by default; 0 answers only the total.
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<i64>,
    /// RQL order: fields, `-` for descending (`-callTime`). Filters are RQL expressions as
    /// bare query keys (`eq(success,false)`, `and(…)`).
    pub order: Option<String>,
    /// RQL select: `-path` drops a property (or part of one), `path` keeps only those named.
    pub select: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The store's shapes

/// Statistics of a webhook's calls (a tenant reading a provider's webhook: of its own calls).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Statistics {
    /// Calls made.
    pub total: i64,
    /// Calls that succeeded.
    pub successes: i64,
    /// Calls that failed.
    pub failures: i64,
    /// Failures since the last success.
    pub failures_since_last_success: i64,
}

/// The MPT Call object: one call of a webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Call {
    /// Whether it succeeded.
    pub success: bool,
    /// When it started (RFC 3339).
    pub call_time: String,
    /// When the answer arrived (RFC 3339), if one did.
    pub response_time: Option<String>,
    /// Response headers, as text.
    pub headers: String,
    /// Why it failed (empty on success).
    pub error: String,
    /// The response body, truncated.
    pub response: String,
    /// The HTTP reason phrase (or the failure kind of a component call).
    pub reason_phrase: String,
    /// The HTTP status code (components: 200 on success, 0 when they failed; 0 when
    /// skipped).
    pub http_status_code: u16,
    /// Why nothing was sent: the webhook's transform dropped the request (a skipped call
    /// counts as a success). Absent when the request was sent.
    #[schema(required = false)]
    pub skipped: Option<String>,
}

/// An entry of a webhook's call log: the MPT Call object with where it came from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoggedCall {
    /// `CAL-…`: what a resend names.
    pub id: String,
    /// The delivery (`DLV-…`) of an asynchronous call; `null` for a synchronous one.
    pub delivery_id: Option<String>,
    /// Attempt number.
    pub attempt: i64,
    /// What caused the call.
    pub trigger: TriggerSource,
    /// Whether it succeeded.
    pub success: bool,
    /// When it started (RFC 3339).
    pub call_time: String,
    /// When the answer arrived (RFC 3339), if one did.
    pub response_time: Option<String>,
    /// Response headers, as text.
    pub headers: String,
    /// Why it failed (empty on success).
    pub error: String,
    /// The response body, truncated.
    pub response: String,
    /// The HTTP reason phrase (or the failure kind of a component call).
    pub reason_phrase: String,
    /// The HTTP status code (components: 200 on success, 0 when they failed; 0 when
    /// skipped).
    pub http_status_code: u16,
    /// Why nothing was sent: the webhook's transform dropped the request (a skipped call
    /// counts as a success). Absent when the request was sent.
    #[schema(required = false)]
    pub skipped: Option<String>,
    /// The request body as it was sent, its first 4 KiB: the payload a component was given,
    /// or the body of a URL webhook's request after its transform. Empty when nothing was
    /// sent, and after an erasure.
    pub request: String,
    /// The lines the component or the transform logged (`host.log`, stdout, stderr; the
    /// host's own notes), their first 4 KiB. Empty after an erasure.
    pub log: Vec<LogEntry>,
}

/// A line a plugin logged during a call.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogEntry {
    /// Where it came from: `trace`, `debug`, `info`, `warn`, `error` (`host.log` levels),
    /// `stdout`, `stderr`, or `host` (a note of the host's about the call, such as an outbound
    /// request it refused).
    #[schema(pattern = "^(trace|debug|info|warn|error|stdout|stderr|host)$")]
    pub source: String,
    /// The line, without its newline.
    pub message: String,
}

/// Retry schedule of a webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryPolicy {
    /// Delay before each retry, in seconds (1 to 604800); 1 to 20 entries, one per retry.
    #[schema(min_items = 1, max_items = 20)]
    pub schedule_seconds: Vec<u64>,
}

// ---------------------------------------------------------------------------------------------
// Calls

/// `POST …/calls/{callId}/resend`: the delivery planned again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resent {
    /// The outbox row (`DLV-…`) that will call the webhook again.
    pub delivery_id: String,
}

/// The body of a test call; everything is optional, and so is the body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestCallRequest {
    /// The payload (any JSON); a sample derived from the webhook when absent.
    pub payload: Option<Value>,
    /// Module or object type; the webhook's first module or its object type by default.
    pub module: Option<String>,
    /// Record id (`0` by default).
    pub record_id: Option<String>,
    /// The tenant on whose behalf to run: a tenant is always itself; a provider must name a
    /// tenant that activated the webhook's service.
    pub tenant_id: Option<String>,
}

/// Why a test call failed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestFailure {
    /// The failure kind: `rejected`, `invalid-input`, `temporary`, `timeout`, `trap`,
    /// `http-<status>`, ….
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// The outcome of a test call: the call as logged, and its failure when it failed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCallResult {
    /// The call, as the call log shows it.
    pub call: Call,
    /// Why it failed; `null` when it succeeded.
    pub failure: Option<TestFailure>,
}

/// `POST …/rotate-secret`: the new signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotatedSecret {
    /// The webhook.
    pub id: String,
    /// The new `whsec_…` secret.
    pub secret: String,
    /// Until when the previous secret keeps signing next to it (RFC 3339); `null` without a
    /// grace period.
    pub previous_secret_valid_until: Option<String>,
}

/// What the host told a webhook's owner (automatic disabling).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notification {
    /// `NTF-…`
    pub id: String,
    /// The webhook it is about.
    pub webhook_id: String,
    /// `gone` (the endpoint answered 410) or `failing` (a run of failures).
    pub kind: String,
    /// For humans.
    pub message: String,
    /// When (RFC 3339).
    pub created: String,
}

// ---------------------------------------------------------------------------------------------
// Components

/// An uploaded component.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Component {
    /// `CMP-…`
    pub id: String,
    /// `/components/{id}`
    pub href: String,
    /// Name given at upload.
    pub name: String,
    /// Version given at upload.
    pub version: String,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// The `marketplace:webhook` WIT version it was built against.
    pub wit_version: String,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// Size in bytes.
    pub size: i64,
    /// Upload time (RFC 3339).
    pub created: String,
}

// ---------------------------------------------------------------------------------------------
// Admin

/// A provider (never with its token).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provider {
    /// `PRV-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the host's e-mails about its webhooks go (circuit opened, disabled by the host);
    /// null: none are sent.
    pub contact_email: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A provider just created, with its API token (shown this once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProvider {
    /// `PRV-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the host's e-mails about its webhooks go; null: none are sent.
    pub contact_email: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Bearer token of the registry and components APIs; only its hash is stored.
    pub token: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// `TEN-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the host's e-mails about its webhooks go (circuit opened, disabled by the host);
    /// null: none are sent.
    pub contact_email: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A service: a provider's marketplace service or a tenant's private one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// `SVC-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// The provider offering it, for a marketplace service.
    pub provider_id: Option<String>,
    /// The tenant owning it, for a private service.
    pub tenant_id: Option<String>,
    /// Parameter names the service accepts; `prefix.*` names a family.
    pub accepted_parameters: Vec<String>,
    /// Accepted parameters whose values are secrets: sealed at rest, masked when shown.
    pub secret_parameters: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A tenant's activation of a service.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Activation {
    /// The tenant.
    pub tenant_id: String,
    /// The service.
    pub service_id: String,
    /// Values the service's plugins read through `config`; secret ones masked.
    pub parameters: BTreeMap<String, String>,
    /// When the tenant first activated the service (RFC 3339).
    pub created_at: String,
}

/// A tenant's activation of a service, as listed: with the names of both.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListedActivation {
    /// The tenant.
    pub tenant_id: String,
    /// The tenant's name.
    pub tenant_name: String,
    /// The service.
    pub service_id: String,
    /// The service's name.
    pub service_name: String,
    /// Values the service's plugins read through `config`; secret ones masked.
    pub parameters: BTreeMap<String, String>,
    /// When the tenant first activated the service (RFC 3339).
    pub created_at: String,
}

/// A smartml API user just created, with its token and secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApiUser {
    /// `USR-…`
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Marketplace API users get errorcode 240 on `executeMarketplaceWebhooks`.
    pub marketplace: bool,
    /// 32 characters.
    pub token: String,
    /// 64 characters: the HMAC key.
    pub secret: String,
}

/// A REST API key just created (shown this once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApiKey {
    /// `KEY-…`: what `deactivate` takes.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The key (`rest_api_key=<key>` or `Bearer <key>`).
    pub key: String,
}

// ---------------------------------------------------------------------------------------------
// Process manager

/// When a step starts, counted from the end of the previous one (of the process's start for
/// the first step).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum StepStart {
    /// As soon as the previous step finished.
    AfterPrevious,
    /// This many days after the previous step finished.
    DaysAfterPrevious(u32),
}

/// Who answers for a step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Responsible {
    /// Whoever started the process.
    ProcessOwner,
    /// The maintainer of the record the step refers to.
    RecordMaintainer,
    /// A named user.
    User(String),
}

/// What a step does: only webhook steps exist.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Calls the webhook(s) of one of the tenant's activated services.
    Webhook,
}

/// One step of a template.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepSpec {
    /// What the step does.
    #[serde(rename = "type")]
    pub kind: StepKind,
    /// A label for people (the service's name when empty).
    #[schema(required = false)]
    pub name: String,
    /// One of the tenant's activated services that has a webhook.
    pub service_id: String,
    /// Parameters for the webhook: only names the service accepts.
    #[schema(required = false)]
    pub parameters: BTreeMap<String, String>,
    /// When it starts (`afterPrevious` by default).
    #[schema(required = false)]
    pub start: StepStart,
    /// Days after its start by which it must have finished.
    pub deadline_days: Option<u32>,
    /// Who answers for it (`processOwner` by default).
    #[schema(required = false)]
    pub responsible: Responsible,
    /// The linked record it refers to; the process's own record when unset.
    pub record: Option<RecordModule>,
}

/// The body of creating or replacing a process template.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSpec {
    /// Display name.
    pub name: String,
    /// Free text.
    #[schema(required = false)]
    pub description: String,
    /// Who is e-mailed when a step is overdue (a start request may name another).
    pub controller_email: Option<String>,
    /// The steps, in order.
    pub steps: Vec<StepSpec>,
}

/// A process template.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessTemplate {
    /// `PTM-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Who is e-mailed when a step is overdue.
    pub controller_email: Option<String>,
    /// The steps, in order.
    pub steps: Vec<StepSpec>,
    /// Bumped by every change.
    pub revision: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A record linked to a process.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkedRecord {
    /// The record's id.
    pub record_id: String,
    /// Its maintainer (for steps whose responsible is the record's maintainer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    /// The record's fields, handed to the webhooks as `elements`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elements: Option<serde_json::Map<String, Value>>,
}

/// The body of starting a process.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    /// The template to start.
    pub template_id: String,
    /// The record the process runs for.
    pub module: RecordModule,
    /// Its id.
    pub record_id: String,
    /// Its maintainer.
    pub maintainer: Option<String>,
    /// Its fields, handed to the webhooks.
    pub elements: Option<serde_json::Map<String, Value>>,
    /// Records of the other module that steps refer to, by module (`estate`, `address`).
    #[schema(required = false)]
    pub links: BTreeMap<String, LinkedRecord>,
    /// Who starts it (the process owner).
    pub owner: Option<String>,
    /// Who is e-mailed about overdue steps; the template's controller when unset.
    pub controller_email: Option<String>,
}

/// The record a step refers to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepRecord {
    /// Its module.
    pub module: RecordModule,
    /// Its id.
    pub record_id: String,
}

/// A step of a process: its definition, the record and person it resolved to, where it
/// stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessStep {
    /// 1-based.
    pub position: i64,
    /// What it does.
    #[serde(rename = "type")]
    pub kind: StepKind,
    /// A label for people.
    pub name: String,
    /// The service whose webhooks it calls.
    pub service_id: String,
    /// Parameters for the webhooks.
    pub parameters: BTreeMap<String, String>,
    /// When it starts.
    pub start: StepStart,
    /// Days after its start by which it must have finished.
    pub deadline_days: Option<u32>,
    /// Who answers for it.
    pub responsible: Responsible,
    /// The user that is, when one is known.
    pub responsible_user: Option<String>,
    /// The record it refers to.
    pub record: StepRecord,
    /// Where it stands.
    pub status: StepStatus,
    /// When it starts (scheduled), or started (RFC 3339).
    pub due_at: Option<String>,
    /// When its calls were planned.
    pub started_at: Option<String>,
    /// When it must have finished.
    pub deadline_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Whether it missed its deadline.
    pub overdue: bool,
    /// When it was found overdue.
    pub overdue_at: Option<String>,
    /// When the controller was e-mailed about it.
    pub notified_at: Option<String>,
    /// What became of the overdue e-mail.
    pub notice: Option<String>,
    /// The deliveries (`DLV-…`) it planned.
    pub deliveries: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A process (with its steps when one process is read; lists leave them out).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Process {
    /// `PRC-…`
    pub id: String,
    /// The template it was started from.
    pub template_id: String,
    /// The template's name at start.
    pub template_name: String,
    /// The record it runs for.
    pub module: RecordModule,
    /// Its id.
    pub record_id: String,
    /// Every linked record, by module.
    pub records: BTreeMap<String, LinkedRecord>,
    /// Who started it.
    pub owner: Option<String>,
    /// Who is e-mailed about overdue steps.
    pub controller_email: Option<String>,
    /// Where it stands.
    pub status: ProcessStatus,
    /// A step missed its deadline.
    pub overdue: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// How many steps it has.
    pub step_count: i64,
    /// The position of the step scheduled or running now.
    pub current_step: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Completed, failed or cancelled at (RFC 3339).
    pub finished_at: Option<String>,
    /// The steps (one process only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<ProcessStep>>,
}

/// An entry of a record's activity log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Activity {
    /// `ACT-…`
    pub id: String,
    /// The record's module.
    pub module: String,
    /// The record's id.
    pub record_id: String,
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub who: String,
    /// How `who` was determined.
    pub responsible: String,
    /// What happened.
    pub what: String,
    /// The result.
    pub result: String,
    /// More about the result.
    pub detail: String,
    /// The process that wrote it.
    pub process_id: Option<String>,
    /// The step's position.
    pub step: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    /// The property names of `T`'s schema.
    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties in {schema}"))
            .keys()
            .cloned()
            .collect()
    }

    fn keys(value: impl Serialize) -> BTreeSet<String> {
        serde_json::to_value(value)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn mirrors_name_the_fields_of_their_types() {
        use crate::admin;
        let view = admin::ProviderView {
            id: "PRV-1".into(),
            name: "n".into(),
            contact_email: None,
            created_at: "t".into(),
        };
        assert_eq!(properties::<Provider>(), keys(&view));
        assert_eq!(
            properties::<NewProvider>(),
            keys(admin::NewProvider {
                provider: view,
                token: "t".into()
            })
        );
        assert_eq!(
            properties::<Tenant>(),
            keys(admin::TenantView {
                id: "TEN-1".into(),
                name: "n".into(),
                contact_email: None,
                created_at: "t".into()
            })
        );
        assert_eq!(
            properties::<Service>(),
            keys(admin::ServiceView {
                id: "SVC-1".into(),
                name: "n".into(),
                provider_id: None,
                tenant_id: None,
                accepted_parameters: vec![],
                secret_parameters: vec![],
                created_at: "t".into()
            })
        );
        assert_eq!(
            properties::<Activation>(),
            keys(admin::ActivationView {
                tenant_id: "TEN-1".into(),
                service_id: "SVC-1".into(),
                parameters: BTreeMap::new(),
                created_at: "t".into()
            })
        );
        assert_eq!(
            properties::<ListedActivation>(),
            keys(admin::ListedActivationView {
                activation: admin::ActivationView {
                    tenant_id: "TEN-1".into(),
                    service_id: "SVC-1".into(),
                    parameters: BTreeMap::new(),
                    created_at: "t".into()
                },
                tenant_name: "Muster".into(),
                service_name: "Valuation".into(),
            })
        );
        assert_eq!(
            properties::<NewApiUser>(),
            keys(admin::NewApiUser {
                id: "USR-1".into(),
                tenant_id: "TEN-1".into(),
                marketplace: false,
                token: "t".into(),
                secret: "s".into()
            })
        );
        assert_eq!(
            properties::<NewApiKey>(),
            keys(admin::NewApiKey {
                id: "KEY-1".into(),
                tenant_id: "TEN-1".into(),
                key: "k".into()
            })
        );
        assert_eq!(
            properties::<Statistics>(),
            keys(crate::store::Statistics::default())
        );
        assert_eq!(
            properties::<Call>(),
            keys(crate::store::Call {
                success: true,
                call_time: "t".into(),
                response_time: None,
                headers: String::new(),
                error: String::new(),
                response: String::new(),
                reason_phrase: String::new(),
                http_status_code: 200,
                skipped: Some("not subscribed".into()),
            })
        );
        let logged = crate::store::LoggedCall {
            id: "CAL-1".into(),
            delivery_id: None,
            attempt: 1,
            trigger: TriggerSource::Test,
            call: crate::store::Call {
                success: true,
                call_time: "t".into(),
                response_time: None,
                headers: String::new(),
                error: String::new(),
                response: String::new(),
                reason_phrase: String::new(),
                http_status_code: 200,
                skipped: Some("not subscribed".into()),
            },
            detail: crate::store::CallDetail {
                request: "{}".into(),
                log: vec![crate::sandbox::LogLine {
                    source: crate::sandbox::LogSource::Info,
                    message: "hello".into(),
                }],
            },
        };
        assert_eq!(properties::<LoggedCall>(), keys(&logged));
        assert_eq!(properties::<LogEntry>(), keys(&logged.detail.log[0]));
        assert_eq!(
            properties::<RetryPolicy>(),
            keys(crate::store::RetryPolicy {
                schedule_seconds: vec![1]
            })
        );
        let spec: crate::store::TemplateSpec = serde_json::from_value(json!({
            "name": "n", "steps": [{"type": "webhook", "serviceId": "SVC-1"}],
        }))
        .unwrap();
        assert_eq!(properties::<TemplateSpec>(), keys(&spec));
        assert_eq!(properties::<StepSpec>(), keys(&spec.steps[0]));
    }

    #[test]
    fn words_are_the_vocabularys() {
        let schema = serde_json::to_value(WebhookStatus::schema()).unwrap();
        assert_eq!(schema["enum"], json!(WebhookStatus::NAMES));
    }
}
