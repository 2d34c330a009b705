//! The portal's words in English and German. Every text a page shows is a [`Text`]: a missing
//! translation does not compile.

use serde::{Deserialize, Serialize};

/// A language of the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// English.
    #[default]
    En,
    /// German (onOffice's users).
    De,
}

impl Locale {
    /// Both, in the order the language switch shows them.
    pub const ALL: [Locale; 2] = [Locale::De, Locale::En];

    /// `en` or `de`.
    pub fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
        }
    }

    /// `en` or `de` (case-insensitive); anything else is `None`.
    pub fn parse(text: &str) -> Option<Locale> {
        match text.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Locale::En),
            "de" => Some(Locale::De),
            _ => None,
        }
    }

    /// The first of ours an `Accept-Language` header names; English otherwise.
    pub fn from_accept_language(header: &str) -> Locale {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .filter_map(|tag| Locale::parse(tag.trim().split('-').next().unwrap_or("")))
            .next()
            .unwrap_or_default()
    }

    /// The text of `text` in this language.
    pub fn t(self, text: Text) -> &'static str {
        let (en, de) = text.words();
        match self {
            Locale::En => en,
            Locale::De => de,
        }
    }

    /// A whole number with this language's thousands separator.
    pub fn number(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let separator = match self {
            Locale::En => ',',
            Locale::De => '.',
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(separator);
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    }

    /// A percentage with one decimal in this language's spelling (`99.5 %`, `99,5 %`).
    pub fn percent(self, part: i64, whole: i64) -> String {
        if whole == 0 {
            return "–".into();
        }
        let value = format!("{:.1}", part as f64 * 100.0 / whole as f64);
        match self {
            Locale::En => format!("{value} %"),
            Locale::De => format!("{} %", value.replace('.', ",")),
        }
    }
}

macro_rules! texts {
    ($($name:ident => ($en:literal, $de:literal),)*) => {
        /// A text of the portal.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Text { $(#[doc = $en] $name,)* }

        impl Text {
            /// (English, German).
            pub fn words(self) -> (&'static str, &'static str) {
                match self { $(Text::$name => ($en, $de),)* }
            }
        }
    };
}

texts! {
    Portal => ("Webhook portal", "Webhook-Portal"),
    SignIn => ("Sign in", "Anmelden"),
    SignOut => ("Sign out", "Abmelden"),
    SignInHelp => ("A provider token, a tenant's REST API key or the admin token.", "Ein Anbieter-Token, der REST-API-Schlüssel eines Mandanten oder das Admin-Token."),
    Credential => ("Token or API key", "Token oder API-Schlüssel"),
    Language => ("Language", "Sprache"),
    WrongCredential => ("This token or key is not known.", "Dieses Token oder dieser Schlüssel ist unbekannt."),
    Expired => ("This portal link has expired. Ask for a new one.", "Dieser Portal-Link ist abgelaufen. Bitte fordern Sie einen neuen an."),
    InvalidLink => ("This portal link is not valid.", "Dieser Portal-Link ist ungültig."),
    NotFound => ("Not found, or not yours to see.", "Nicht gefunden oder nicht für Sie sichtbar."),
    Provider => ("Provider", "Anbieter"),
    Tenant => ("Tenant", "Mandant"),
    Operator => ("Operator", "Betreiber"),
    Webhooks => ("Webhooks", "Webhooks"),
    Webhook => ("Webhook", "Webhook"),
    Components => ("Components", "Komponenten"),
    Processes => ("Processes", "Prozesse"),
    Overview => ("Overview", "Übersicht"),
    Description => ("Description", "Beschreibung"),
    Status => ("Status", "Status"),
    Enabled => ("enabled", "aktiv"),
    Disabled => ("disabled", "deaktiviert"),
    Handler => ("Handler", "Handler"),
    SuccessRate => ("Success rate", "Erfolgsquote"),
    Last24h => ("Last 24 hours", "Letzte 24 Stunden"),
    Calls => ("Calls", "Aufrufe"),
    Successes => ("Successes", "Erfolge"),
    Failures => ("Failures", "Fehler"),
    P50 => ("p50", "p50"),
    P99 => ("p99", "p99"),
    Hour => ("Hour (UTC)", "Stunde (UTC)"),
    StatisticsOverTime => ("Statistics over time", "Statistik im Zeitverlauf"),
    LastSuccess => ("Last success", "Letzter Erfolg"),
    LastFailure => ("Last failure", "Letzter Fehler"),
    Never => ("never", "nie"),
    CallLog => ("Call log", "Aufrufprotokoll"),
    Time => ("Time", "Zeit"),
    Trigger => ("Trigger", "Auslöser"),
    Result => ("Result", "Ergebnis"),
    Duration => ("Duration", "Dauer"),
    Attempt => ("Attempt", "Versuch"),
    Ok => ("ok", "ok"),
    Failed => ("failed", "fehlgeschlagen"),
    All => ("all", "alle"),
    Filter => ("Filter", "Filtern"),
    LoadMore => ("Older calls", "Ältere Aufrufe"),
    NoCalls => ("No calls yet.", "Noch keine Aufrufe."),
    NoWebhooks => ("No webhooks.", "Keine Webhooks."),
    Live => ("Live: new calls appear here.", "Live: neue Aufrufe erscheinen hier."),
    Resend => ("Resend", "Erneut senden"),
    Resent => ("Planned again as", "Erneut geplant als"),
    TestCall => ("Test call", "Testaufruf"),
    RunTest => ("Run test call", "Testaufruf starten"),
    Payload => ("Payload (JSON)", "Nutzdaten (JSON)"),
    TenantId => ("Tenant (TEN-…)", "Mandant (TEN-…)"),
    Enable => ("Enable", "Aktivieren"),
    Disable => ("Disable", "Deaktivieren"),
    RotateSecret => ("Rotate secret", "Geheimnis erneuern"),
    SecretOnce => ("The new signing secret, shown this once:", "Das neue Signatur-Geheimnis, nur dieses eine Mal angezeigt:"),
    PreviousSecretUntil => ("The previous secret keeps signing until", "Das bisherige Geheimnis signiert weiter bis"),
    ReadOnly => ("Read-only: this webhook belongs to the service's provider.", "Nur lesbar: dieser Webhook gehört dem Anbieter des Dienstes."),
    Response => ("Response", "Antwort"),
    Request => ("Request", "Anfrage"),
    PluginLog => ("Plugin log", "Protokoll des Plugins"),
    Headers => ("Headers", "Header"),
    Error => ("Error", "Fehler"),
    FailureKind => ("Failure kind", "Fehlerart"),
    Details => ("Details", "Details"),
    Upload => ("Upload", "Hochladen"),
    UploadComponent => ("Upload a component", "Komponente hochladen"),
    DropHere => ("Drop a .wasm file here, or choose one.", "Eine .wasm-Datei hier ablegen oder auswählen."),
    Name => ("Name", "Name"),
    Version => ("Version", "Version"),
    Size => ("Size", "Größe"),
    WitVersion => ("WIT version", "WIT-Version"),
    Imports => ("Imports", "Importe"),
    Digest => ("Digest", "Prüfsumme"),
    UsedBy => ("Used by", "Verwendet von"),
    Unused => ("unused", "unbenutzt"),
    Uploaded => ("Uploaded and checked", "Hochgeladen und geprüft"),
    Refused => ("Refused", "Abgelehnt"),
    Templates => ("Templates", "Vorlagen"),
    Steps => ("Steps", "Schritte"),
    Running => ("Running", "Laufend"),
    Finished => ("Finished", "Beendet"),
    Module => ("Module", "Modul"),
    Record => ("Record", "Datensatz"),
    Started => ("Started", "Gestartet"),
    Due => ("Due", "Fällig"),
    Deadline => ("Deadline", "Frist"),
    ActivityLog => ("Activity log", "Aktivitätenprotokoll"),
    Who => ("Who", "Wer"),
    What => ("What", "Was"),
    NoneYet => ("None yet.", "Noch keine."),
    ProcessesTenantsOnly => ("Processes belong to tenants: sign in with a tenant's API key.", "Prozesse gehören Mandanten: melden Sie sich mit dem API-Schlüssel eines Mandanten an."),
    Providers => ("Providers", "Anbieter"),
    Tenants => ("Tenants", "Mandanten"),
    Services => ("Services", "Dienste"),
    Activations => ("Activations", "Aktivierungen"),
    Service => ("Service", "Dienst"),
    Parameters => ("Parameters", "Parameter"),
    Outbox => ("Outbox", "Ausgangswarteschlange"),
    Metrics => ("Metrics", "Metriken"),
    Created => ("Created", "Angelegt"),
    Id => ("Id", "Id"),
    SkipToContent => ("Skip to content", "Zum Inhalt springen"),
    Back => ("Back", "Zurück"),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_of_ours() {
        assert_eq!(
            Locale::from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
            Locale::De
        );
        assert_eq!(
            Locale::from_accept_language("fr-FR, en-GB;q=0.5"),
            Locale::En
        );
        assert_eq!(Locale::from_accept_language(""), Locale::En);
    }

    #[test]
    fn numbers_are_spelled_per_language() {
        assert_eq!(Locale::De.number(100_000), "100.000");
        assert_eq!(Locale::En.number(1_234_567), "1,234,567");
        assert_eq!(Locale::En.number(-12), "-12");
        assert_eq!(Locale::De.percent(199, 200), "99,5 %");
        assert_eq!(Locale::En.percent(0, 0), "–");
    }
}
