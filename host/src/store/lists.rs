//! What each list endpoint filters and orders by (see [`super::listing`]): its fields as the
//! API names them, the SQL expression each stands for in the list's query, their kinds, and
//! the list's own order. The type beside each whitelist marks its list, so a list function
//! only takes a [`super::Listing`] checked against its own fields.

use super::listing::{Field, Fields, Kind};
use crate::vocab::{
    CircuitState, MptType, ObjectType, ProcessStatus, RecordModule, TriggerSource, WebhookStatus,
};

/// The registry's webhooks (`GET /public/v1/notifications/webhooks`), table `webhooks`.
pub enum Webhooks {}

const WEBHOOK_FIELDS: &[Field] = &[
    Field::new("id", "id", Kind::Text),
    Field::new("description", "description", Kind::Text),
    Field::new("status", "status", Kind::Word(WebhookStatus::NAMES)),
    Field::new("type", "type", Kind::Word(MptType::NAMES)).nullable(),
    Field::new("objectType", "object_type", Kind::Word(ObjectType::NAMES)).nullable(),
    Field::new("url", "url", Kind::Text).nullable(),
    Field::new("service.id", "service_id", Kind::Text).nullable(),
    Field::new("handler.url", "url", Kind::Text).nullable(),
    Field::new("handler.component.id", "component_id", Kind::Text).nullable(),
    Field::new("extension", "extension", Kind::Text).nullable(),
    Field::new("audit.created.at", "created_at", Kind::Time),
    Field::new("audit.updated.at", "updated_at", Kind::Time),
    Field::new("audit.enabled.at", "enabled_at", Kind::Time).nullable(),
    Field::new("audit.disabled.at", "disabled_at", Kind::Time).nullable(),
    Field::new("statistics.total", "stat_total", Kind::Int),
    Field::new("statistics.successes", "stat_successes", Kind::Int),
    Field::new("statistics.failures", "stat_failures", Kind::Int),
    Field::new(
        "statistics.failuresSinceLastSuccess",
        "stat_failures_since",
        Kind::Int,
    ),
    Field::new(
        "circuit.state",
        "circuit_state",
        Kind::Word(CircuitState::NAMES),
    ),
];

/// The webhooks as their providers list them.
pub static WEBHOOKS: Fields<Webhooks> = Fields::new(WEBHOOK_FIELDS, "created_at, id");

/// The webhooks as tenants list them. A tenant sees a provider's webhook with the statistics of
/// its own calls, while the columns count every tenant's: filtering or ordering by them would
/// tell one tenant about the others' calls.
pub static WEBHOOKS_SEEN_BY_TENANTS: Fields<Webhooks> =
    Fields::new(WEBHOOK_FIELDS, "created_at, id").withholding(
        &[
            "statistics.total",
            "statistics.successes",
            "statistics.failures",
            "statistics.failuresSinceLastSuccess",
        ],
        "tenants cannot filter or order by statistics: a provider's webhook counts the calls of \
     every tenant of its service",
    );

/// A webhook's call log (`GET …/webhooks/{id}/calls`), table `calls`: newest first.
pub enum Calls {}

/// The call log; `httpStatusCode` and `callTime` are read from the stored Call object.
pub static CALLS: Fields<Calls> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text).unique(),
        Field::new("deliveryId", "delivery_id", Kind::Text).nullable(),
        Field::new("attempt", "attempt", Kind::Int),
        Field::new("trigger", "trigger", Kind::Word(TriggerSource::NAMES)),
        Field::new("success", "success", Kind::Bool),
        Field::new(
            "httpStatusCode",
            "json_extract(call, '$.httpStatusCode')",
            Kind::Int,
        )
        .nullable()
        .on_postgres("CAST(CAST(call AS JSON) ->> 'httpStatusCode' AS BIGINT)"),
        Field::new(
            "callTime",
            "json_extract(call, '$.callTime')",
            Kind::TimeText,
        )
        .nullable()
        .on_postgres("(CAST(call AS JSON) ->> 'callTime')"),
    ],
    // Ids are time-ordered: newest first, along the `calls_webhook_id` index.
    "id DESC",
)
.ordered_on_postgres("(id) COLLATE \"C\" DESC");

/// What the host told a webhook's owner (`GET …/webhooks/{id}/notifications`): newest first.
pub enum Notifications {}

/// The notifications.
pub static NOTIFICATIONS: Fields<Notifications> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text),
        Field::new("kind", "kind", Kind::Text),
        Field::new("message", "message", Kind::Text),
        Field::new("created", "created_at", Kind::Time),
    ],
    "created_at DESC, id DESC",
);

/// An owner's components (`GET /public/v1/components`): newest first.
pub enum Components {}

/// The components; `digest` as shown, `sha256:<hex>`.
pub static COMPONENTS: Fields<Components> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text),
        Field::new("name", "name", Kind::Text),
        Field::new("version", "version", Kind::Text),
        Field::new("digest", "('sha256:' || digest)", Kind::Text),
        Field::new("witVersion", "wit_version", Kind::Text),
        Field::new("size", "size", Kind::Int),
        Field::new("created", "created_at", Kind::Time),
    ],
    "created_at DESC, id",
);

/// A tenant's process templates (`GET /api/v1/process-templates`): oldest first.
pub enum Templates {}

/// The process templates.
pub static TEMPLATES: Fields<Templates> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text),
        Field::new("name", "name", Kind::Text),
        Field::new("description", "description", Kind::Text),
        Field::new("controllerEmail", "controller_email", Kind::Text).nullable(),
        Field::new("revision", "revision", Kind::Int),
        Field::new("createdAt", "created_at", Kind::Time),
        Field::new("updatedAt", "updated_at", Kind::Time),
    ],
    "created_at, id",
);

/// A tenant's processes (`GET /api/v1/processes`), table `processes p`: newest first.
pub enum Processes {}

/// The processes.
pub static PROCESSES: Fields<Processes> = Fields::new(
    &[
        Field::new("id", "p.id", Kind::Text),
        Field::new("templateId", "p.template_id", Kind::Text),
        Field::new("templateName", "p.template_name", Kind::Text),
        Field::new("module", "p.module", Kind::Word(RecordModule::NAMES)),
        Field::new("recordId", "p.record_id", Kind::Text),
        Field::new("owner", "p.owner", Kind::Text).nullable(),
        Field::new("controllerEmail", "p.controller_email", Kind::Text).nullable(),
        Field::new("status", "p.status", Kind::Word(ProcessStatus::NAMES)),
        Field::new("overdue", "p.overdue", Kind::Bool),
        Field::new("error", "p.error", Kind::Text).nullable(),
        Field::new(
            "stepCount",
            "(SELECT COUNT(*) FROM process_steps s WHERE s.process_id = p.id)",
            Kind::Int,
        ),
        Field::new(
            "currentStep",
            "(SELECT MIN(s.position) FROM process_steps s WHERE s.process_id = p.id \
             AND s.status IN ('scheduled', 'running'))",
            Kind::Int,
        )
        .nullable(),
        Field::new("createdAt", "p.created_at", Kind::Time),
        Field::new("updatedAt", "p.updated_at", Kind::Time),
        Field::new("finishedAt", "p.finished_at", Kind::Time).nullable(),
    ],
    "p.created_at DESC, p.id DESC",
);

/// A record's activity log (`GET /api/v1/records/{module}/{id}/activities`): newest first.
pub enum Activities {}

/// The activity log.
pub static ACTIVITIES: Fields<Activities> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text),
        Field::new("at", "created_at", Kind::Time),
        Field::new("who", "who", Kind::Text),
        Field::new("responsible", "responsible", Kind::Text),
        Field::new("what", "what", Kind::Text),
        Field::new("result", "result", Kind::Text),
        Field::new("detail", "detail", Kind::Text),
        Field::new("processId", "process_id", Kind::Text).nullable(),
        Field::new("step", "position", Kind::Int).nullable(),
    ],
    "created_at DESC, id DESC",
);

/// The providers (`GET /admin/v1/providers`): oldest first.
pub enum Providers {}

/// The providers.
pub static PROVIDERS: Fields<Providers> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text),
        Field::new("name", "name", Kind::Text),
        Field::new("contactEmail", "contact_email", Kind::Text),
        Field::new("createdAt", "created_at", Kind::Time),
    ],
    "created_at, id",
);

/// The tenants (`GET /admin/v1/tenants`): oldest first.
pub enum Tenants {}

/// The tenants.
pub static TENANTS: Fields<Tenants> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text),
        Field::new("name", "name", Kind::Text),
        Field::new("contactEmail", "contact_email", Kind::Text),
        Field::new("createdAt", "created_at", Kind::Time),
    ],
    "created_at, id",
);

/// The activations (`GET /admin/v1/activations`, `GET /public/v1/activations`), table
/// `activations a`: oldest first.
pub enum Activations {}

/// The activations: a tenant's use of a service.
pub static ACTIVATIONS: Fields<Activations> = Fields::new(
    &[
        Field::new("tenantId", "a.tenant_id", Kind::Text),
        Field::new("serviceId", "a.service_id", Kind::Text),
        Field::new("createdAt", "a.created_at", Kind::Time),
    ],
    "a.created_at, a.tenant_id, a.service_id",
);

/// The services (`GET /admin/v1/services`): oldest first.
pub enum Services {}

/// The services, marketplace and private.
pub static SERVICES: Fields<Services> = Fields::new(
    &[
        Field::new("id", "id", Kind::Text),
        Field::new("name", "name", Kind::Text),
        Field::new("providerId", "provider_id", Kind::Text).nullable(),
        Field::new("tenantId", "tenant_id", Kind::Text).nullable(),
        Field::new("createdAt", "created_at", Kind::Time),
    ],
    "created_at, id",
);
