//! The host's vocabulary: the closed sets of words its parts pass to each other and store,
//! each an enum with one spelling and one parser.
//!
//! Architecture Invariant: a word that crosses a module boundary (a failure kind, where a
//! call came from, a delivery's status, a smartml module, an MPT type, an event) is one of
//! these enums, never a bare string compared by hand. Adding a variant makes the compiler
//! point at every `match` that has to decide about it; text is made by [`Display`] and read
//! by `parse`, so the spellings stored in the database and shown by the APIs live here alone.

use crate::sandbox::{CallError, Event};
use std::fmt;

/// A word that is not one of its set's, with the words that are: `"estat" is not one of
/// estate, address, task, calendar`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{found:?} is not one of {known}")]
pub struct Unknown {
    /// What was read.
    pub found: String,
    /// The known words, comma separated.
    pub known: String,
}

/// Defines a closed set of words: the enum, its spellings, `ALL`, exact and case-blind
/// parsers, `Display` and serde as the spelling.
macro_rules! words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every word of the set, in its documented order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Their spellings, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling stored and shown.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// Reads the exact spelling.
            pub fn parse(text: &str) -> Result<Self, Unknown> {
                Self::ALL
                    .iter()
                    .find(|word| word.as_str() == text)
                    .copied()
                    .ok_or_else(|| Self::unknown(text))
            }

            /// Reads a spelling ignoring ASCII case (what the registry accepts as input).
            pub fn parse_ignoring_case(text: &str) -> Result<Self, Unknown> {
                Self::ALL
                    .iter()
                    .find(|word| word.as_str().eq_ignore_ascii_case(text))
                    .copied()
                    .ok_or_else(|| Self::unknown(text))
            }

            fn unknown(text: &str) -> Unknown {
                let known: Vec<&str> = Self::ALL.iter().map(|word| word.as_str()).collect();
                Unknown {
                    found: text.to_owned(),
                    known: known.join(", "),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad` honours widths (`{:<10}`) as a `&str` does.
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = Unknown;
            fn from_str(text: &str) -> Result<Self, Unknown> {
                Self::parse(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Spelling;
                impl serde::de::Visitor<'_> for Spelling {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "one of {}", $name::NAMES.join(", "))
                    }
                    // Refused as serde refuses an unknown variant of a derived enum, inside
                    // the deserializer, so the error carries its position.
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::parse(text).map_err(|_| E::unknown_variant(text, $name::NAMES))
                    }
                }
                d.deserialize_str(Spelling)
            }
        }
    };
}

words! {
    /// What caused a call: the dialect of the execute endpoint, a process step, or a test call.
    pub enum TriggerSource {
        /// onOffice smartml `executeMarketplaceWebhooks` (planned into the outbox).
        Smartml = "smartml",
        /// Ivanti `Webhooks/Execute` (synchronous).
        Ivanti = "ivanti",
        /// An MPT validation (synchronous).
        Mpt = "mpt",
        /// A process step (planned into the outbox by the scheduler).
        Process = "process",
        /// A test call from the registry API.
        Test = "test",
        /// An operational event about a webhook (its circuit opened or closed, it was
        /// disabled), planned into the outbox for the owner's webhooks that subscribe to it.
        Operations = "operations",
    }
}

words! {
    /// What the host tells a webhook's owner about the webhook, as operational events
    /// (`webhook.<word>`) and notifications.
    pub enum OpsEvent {
        /// A run of failures paused its deliveries.
        CircuitOpened = "circuit-opened",
        /// A probe call succeeded: its deliveries run again.
        CircuitClosed = "circuit-closed",
        /// The host disabled it (410 Gone, a run of failures, or failing for too long).
        Disabled = "disabled",
    }
}

impl TriggerSource {
    /// Whether calls of this source are about a tenant's record or object and so carry the
    /// activation's parameters (to a URL handler as query parameters).
    pub fn carries_activation(self) -> bool {
        matches!(self, TriggerSource::Smartml | TriggerSource::Mpt)
    }
}

words! {
    /// Whether a webhook is called.
    pub enum WebhookStatus {
        /// Called by the triggers it listens to.
        Enabled = "enabled",
        /// Kept, but not called.
        Disabled = "disabled",
    }
}

impl WebhookStatus {
    /// The status of a webhook that is `enabled` or not.
    pub fn of(enabled: bool) -> Self {
        if enabled {
            WebhookStatus::Enabled
        } else {
            WebhookStatus::Disabled
        }
    }

    /// Whether it is [`WebhookStatus::Enabled`].
    pub fn is_enabled(self) -> bool {
        self == WebhookStatus::Enabled
    }
}

words! {
    /// Where a delivery (a row of the outbox) stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt.
        Pending = "pending",
        /// Leased by a worker that is calling it.
        InFlight = "in_flight",
        /// An attempt succeeded.
        Succeeded = "succeeded",
        /// It failed for good (retries exhausted, refused, or cancelled).
        Failed = "failed",
    }
}

impl DeliveryStatus {
    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, DeliveryStatus::Succeeded | DeliveryStatus::Failed)
    }
}

words! {
    /// A webhook's circuit breaker: whether its deliveries are attempted.
    pub enum CircuitState {
        /// Deliveries run.
        Closed = "closed",
        /// A run of failures paused its deliveries; one probe call at the next probe time
        /// decides when they resume.
        Open = "open",
        /// The probe call is being made.
        Probing = "probing",
    }
}

words! {
    /// Where a process stands.
    pub enum ProcessStatus {
        /// Its steps are being worked through.
        Running = "running",
        /// Every step succeeded.
        Completed = "completed",
        /// A step failed; the process stopped.
        Failed = "failed",
        /// Cancelled by the tenant.
        Cancelled = "cancelled",
    }
}

words! {
    /// Where a step of a process stands.
    pub enum StepStatus {
        /// An earlier step has not finished.
        Waiting = "waiting",
        /// Due at its time.
        Scheduled = "scheduled",
        /// Its calls are planned; waiting for them.
        Running = "running",
        /// Every call succeeded.
        Succeeded = "succeeded",
        /// A call failed for good.
        Failed = "failed",
        /// Not run: an earlier step failed.
        Skipped = "skipped",
        /// Not run or stopped: the process was cancelled.
        Cancelled = "cancelled",
    }
}

words! {
    /// The smartml modules a webhook may listen to.
    pub enum Module {
        /// Properties.
        Estate = "estate",
        /// Contacts.
        Address = "address",
        /// Tasks.
        Task = "task",
        /// Appointments.
        Calendar = "calendar",
    }
}

words! {
    /// The modules whose records a process may run for.
    pub enum RecordModule {
        /// A property (onOffice `estate`).
        Estate = "estate",
        /// A contact (onOffice `address`).
        Address = "address",
    }
}

words! {
    /// The MPT webhook types, as the platform spells them.
    pub enum MptType {
        /// Validates a purchase order draft.
        ValidatePurchaseOrderDraft = "validatePurchaseOrderDraft",
        /// Validates a purchase order being queried.
        ValidatePurchaseOrderQuerying = "validatePurchaseOrderQuerying",
        /// Validates a change order draft.
        ValidateChangeOrderDraft = "validateChangeOrderDraft",
        /// Validates a termination order.
        ValidateTerminateOrder = "validateTerminateOrder",
        /// Validates a request.
        ValidateRequest = "validateRequest",
        /// Validates an account.
        ValidateAccount = "validateAccount",
        /// Selects the lines of an order.
        SelectOrderLines = "selectOrderLines",
    }
}

impl MptType {
    /// Whether the type is a validation (`POST /public/v1/validate/{type}` calls it).
    pub fn is_validation(self) -> bool {
        self.as_str().starts_with("validate")
    }

    /// The object type the type is about, when its webhook names none.
    pub fn object_type(self) -> ObjectType {
        match self {
            MptType::ValidateRequest => ObjectType::Request,
            MptType::ValidateAccount => ObjectType::Account,
            MptType::ValidatePurchaseOrderDraft
            | MptType::ValidatePurchaseOrderQuerying
            | MptType::ValidateChangeOrderDraft
            | MptType::ValidateTerminateOrder
            | MptType::SelectOrderLines => ObjectType::Order,
        }
    }
}

words! {
    /// The MPT object types.
    pub enum ObjectType {
        /// An order.
        Order = "Order",
        /// A request.
        Request = "Request",
        /// An account.
        Account = "Account",
    }
}

/// The events of the WIT contract (spelled by [`event_name`]; the outbox and the CLI use them).
const EVENTS: &[Event] = &[
    Event::Create,
    Event::Update,
    Event::Execute,
    Event::Validate,
    Event::ProcessStep,
    Event::Test,
];

/// An event's spelling (the WIT one).
pub fn event_name(event: Event) -> &'static str {
    match event {
        Event::Create => "create",
        Event::Update => "update",
        Event::Execute => "execute",
        Event::Validate => "validate",
        Event::ProcessStep => "process-step",
        Event::Test => "test",
    }
}

/// Reads an event's spelling.
pub fn parse_event(text: &str) -> Result<Event, Unknown> {
    EVENTS
        .iter()
        .copied()
        .find(|event| event_name(*event) == text)
        .ok_or_else(|| Unknown {
            found: text.to_owned(),
            known: EVENTS
                .iter()
                .map(|event| event_name(*event))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Why an attempt to run a webhook failed, as statistics, metrics, the call log
/// (`reasonPhrase`) and the dialects' error bodies name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The plugin refused the input (its verdict).
    Rejected,
    /// The plugin could not read the input.
    InvalidInput,
    /// The plugin asked to be tried again later.
    Temporary,
    /// The call ran past its deadline (component) or the endpoint did not answer in time.
    Timeout,
    /// The component used all its fuel.
    FuelExhausted,
    /// The component asked for more memory than its limit.
    MemoryLimit,
    /// The component overflowed its stack.
    StackOverflow,
    /// The component trapped (a panic, an unreachable, an exit).
    Trap,
    /// The input was larger than the component may receive.
    PayloadTooLarge,
    /// The component's answer was larger than allowed.
    OutputTooLarge,
    /// The host failed (database, loading): not the handler's fault.
    HostService,
    /// The URL's host resolved to an address the egress guard refuses.
    RefusedAddress,
    /// The URL is not one the host calls (scheme, form).
    RefusedUrl,
    /// Connecting to the endpoint failed.
    Connect,
    /// Connecting to the endpoint timed out.
    ConnectTimeout,
    /// The exchange broke off after connecting.
    Transport,
    /// The endpoint answered with a non-2xx status.
    Http(u16),
}

impl FailureKind {
    /// The fixed-spelling kinds (all but [`FailureKind::Http`]).
    const NAMED: &'static [(FailureKind, &'static str)] = &[
        (FailureKind::Rejected, "rejected"),
        (FailureKind::InvalidInput, "invalid-input"),
        (FailureKind::Temporary, "temporary"),
        (FailureKind::Timeout, "timeout"),
        (FailureKind::FuelExhausted, "fuel-exhausted"),
        (FailureKind::MemoryLimit, "memory-limit"),
        (FailureKind::StackOverflow, "stack-overflow"),
        (FailureKind::Trap, "trap"),
        (FailureKind::PayloadTooLarge, "payload-too-large"),
        (FailureKind::OutputTooLarge, "output-too-large"),
        (FailureKind::HostService, "host-service"),
        (FailureKind::RefusedAddress, "refused-address"),
        (FailureKind::RefusedUrl, "refused-url"),
        (FailureKind::Connect, "connect"),
        (FailureKind::ConnectTimeout, "connect-timeout"),
        (FailureKind::Transport, "transport"),
    ];

    /// Reads a kind's spelling (`http-503` included).
    pub fn parse(text: &str) -> Result<Self, Unknown> {
        if let Some(code) = text.strip_prefix("http-")
            && let Ok(code) = code.parse::<u16>()
            && (100..=999).contains(&code)
        {
            return Ok(FailureKind::Http(code));
        }
        Self::NAMED
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(kind, _)| *kind)
            .ok_or_else(|| Unknown {
                found: text.to_owned(),
                known: Self::NAMED
                    .iter()
                    .map(|(_, name)| *name)
                    .chain(["http-<status>"])
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let FailureKind::Http(code) = self {
            return write!(f, "http-{code}");
        }
        let name = Self::NAMED
            .iter()
            .find(|(kind, _)| kind == self)
            .map(|(_, name)| *name)
            .expect("every kind but Http is named");
        f.write_str(name)
    }
}

impl serde::Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<&CallError> for FailureKind {
    fn from(error: &CallError) -> Self {
        match error {
            CallError::Rejected(_) => FailureKind::Rejected,
            CallError::InvalidInput(_) => FailureKind::InvalidInput,
            CallError::Temporary(_) => FailureKind::Temporary,
            CallError::DeadlineExceeded { .. } => FailureKind::Timeout,
            CallError::FuelExhausted { .. } => FailureKind::FuelExhausted,
            CallError::MemoryLimit { .. } => FailureKind::MemoryLimit,
            CallError::StackOverflow => FailureKind::StackOverflow,
            CallError::Trap(_) => FailureKind::Trap,
            CallError::PayloadTooLarge { .. } => FailureKind::PayloadTooLarge,
            CallError::OutputTooLarge { .. } => FailureKind::OutputTooLarge,
            CallError::HostService(_) => FailureKind::HostService,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back_what_they_print() {
        for source in TriggerSource::ALL {
            assert_eq!(TriggerSource::parse(source.as_str()), Ok(*source));
        }
        for status in DeliveryStatus::ALL {
            assert_eq!(status.to_string().parse(), Ok(*status));
        }
        for kind in MptType::ALL {
            assert_eq!(
                MptType::parse_ignoring_case(&kind.as_str().to_uppercase()),
                Ok(*kind)
            );
        }
        for event in EVENTS {
            assert_eq!(parse_event(event_name(*event)), Ok(*event));
        }
        assert_eq!(
            parse_event("delete").unwrap_err().known,
            "create, update, execute, validate, process-step, test"
        );
    }

    #[test]
    fn unknown_words_are_refused_naming_the_known_ones() {
        assert_eq!(
            Module::parse("estat").unwrap_err().to_string(),
            r#""estat" is not one of estate, address, task, calendar"#
        );
        assert!(Module::parse("Estate").is_err());
        assert_eq!(Module::parse_ignoring_case("Estate"), Ok(Module::Estate));
        assert!(parse_event("delete").is_err());
        assert_eq!(
            serde_json::from_str::<RecordModule>(r#""house""#)
                .unwrap_err()
                .to_string(),
            "unknown variant `house`, expected `estate` or `address` at line 1 column 7"
        );
    }

    #[test]
    fn failure_kinds_keep_their_spellings() {
        let kinds = [
            (FailureKind::Rejected, "rejected"),
            (FailureKind::Timeout, "timeout"),
            (FailureKind::HostService, "host-service"),
            (FailureKind::ConnectTimeout, "connect-timeout"),
            (FailureKind::Http(503), "http-503"),
        ];
        for (kind, text) in kinds {
            assert_eq!(kind.to_string(), text);
            assert_eq!(FailureKind::parse(text), Ok(kind));
        }
        for (kind, name) in FailureKind::NAMED {
            assert_eq!(FailureKind::parse(name), Ok(*kind));
        }
        assert!(FailureKind::parse("http-abc").is_err());
        assert!(FailureKind::parse("http-99").is_err());
        assert!(FailureKind::parse("timed-out").is_err());
    }

    #[test]
    fn sandbox_errors_keep_the_kinds_the_sandbox_names() {
        let errors = [
            CallError::Rejected("no".into()),
            CallError::InvalidInput("bad".into()),
            CallError::Temporary("later".into()),
            CallError::Trap("boom".into()),
            CallError::StackOverflow,
            CallError::HostService("db".into()),
        ];
        for error in &errors {
            assert_eq!(FailureKind::from(error).to_string(), error.kind());
        }
    }

    #[test]
    fn types_know_their_object_types() {
        assert_eq!(MptType::ValidateAccount.object_type(), ObjectType::Account);
        assert_eq!(
            MptType::ValidatePurchaseOrderDraft.object_type(),
            ObjectType::Order
        );
        assert!(!MptType::SelectOrderLines.is_validation());
        let validations = MptType::ALL.iter().filter(|t| t.is_validation()).count();
        assert_eq!(validations, 6);
    }
}
