//! `hookhost process …`: a tenant's process templates and processes, straight on the
//! configured database (no server needed, like `hookhost admin …`). The schedulers of the
//! running servers pick up what it starts.

use crate::config::Config;
use crate::process::{ProcessError, manage, template};
use crate::store::{ProcessFilter, Store};
use crate::time::format_ms;
use crate::vocab::StepStatus;
use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `hookhost process …`
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Print JSON (the REST API's shapes) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ProcessCommand,
}

/// The `process` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// Process templates: create, list, show, update, delete.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Start a process from a template for an estate or address record.
    Start {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The whole start request as a JSON file (the REST API's body; `-` reads standard
        /// input); the other options add to it.
        #[arg(long)]
        request: Option<PathBuf>,
        /// The template (`PTM-…`).
        #[arg(long, required_unless_present = "request")]
        template: Option<String>,
        /// The record's module: estate or address.
        #[arg(long, required_unless_present = "request")]
        module: Option<String>,
        /// The record's id.
        #[arg(long, required_unless_present = "request")]
        record: Option<String>,
        /// The record's maintainer.
        #[arg(long)]
        maintainer: Option<String>,
        /// A JSON file with the record's fields (handed to the webhooks as `elements`).
        #[arg(long)]
        elements: Option<PathBuf>,
        /// A linked record of the other module that steps refer to: `address=4711` (repeatable).
        #[arg(long = "link", value_parser = module_record)]
        links: Vec<(String, String)>,
        /// Who starts the process (its owner).
        #[arg(long)]
        owner: Option<String>,
        /// Who is e-mailed about overdue steps (default: the template's controller).
        #[arg(long)]
        controller_email: Option<String>,
    },
    /// List processes, newest first.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Only with this status: running, completed, failed, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only for this module.
        #[arg(long)]
        module: Option<String>,
        /// Only for this record id.
        #[arg(long)]
        record: Option<String>,
        /// Only started from this template.
        #[arg(long)]
        template: Option<String>,
    },
    /// Show a process and where each of its steps stands.
    Show {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The process (`PRC-…`).
        id: String,
    },
    /// Cancel a running process.
    Cancel {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The process (`PRC-…`).
        id: String,
    },
    /// Show a record's activity log, newest first.
    Activities {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The record's module: estate or address.
        #[arg(long)]
        module: String,
        /// The record's id.
        #[arg(long)]
        record: String,
    },
}

/// The `process template` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Create a template from a JSON file (the REST API's body; `-` reads standard input).
    Create {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The template (JSON).
        #[arg(long)]
        file: PathBuf,
    },
    /// List the tenant's templates.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Show a template.
    Show {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The template (`PTM-…`).
        id: String,
    },
    /// Replace a template with a JSON file (running processes keep their steps).
    Update {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The template (`PTM-…`).
        id: String,
        /// The template (JSON).
        #[arg(long)]
        file: PathBuf,
    },
    /// Delete a template (processes started from it keep running).
    Delete {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The template (`PTM-…`).
        id: String,
    },
}

fn module_record(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("expected module=record, e.g. address=4711, got `{text}`"))
}

/// Runs `hookhost process …`; returns the exit code (1 when the input was refused).
pub async fn run(config: &Config, args: ProcessArgs) -> anyhow::Result<i32> {
    let url = config.database_url();
    let store = Store::open(&url).await.context("opening the database")?;
    match execute(&store, config, &args).await {
        Ok(()) => Ok(0),
        Err(CliError::Refused(error)) => {
            match &error {
                ProcessError::Invalid(errors) => {
                    eprintln!("refused: invalid input");
                    for e in errors {
                        eprintln!("  {}: {}", e.field, e.message);
                    }
                }
                other => eprintln!("refused: {other}"),
            }
            Ok(1)
        }
        Err(CliError::Other(error)) => Err(error),
    }
}

enum CliError {
    Refused(ProcessError),
    Other(anyhow::Error),
}

impl From<ProcessError> for CliError {
    fn from(error: ProcessError) -> Self {
        match error {
            ProcessError::Store(e) => CliError::Other(e.into()),
            e => CliError::Refused(e),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        CliError::Other(error)
    }
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

async fn tenant(store: &Store, id: &str) -> Result<(), CliError> {
    match store.tenant(id).await {
        Ok(_) => Ok(()),
        Err(crate::store::StoreError::NotFound) => {
            Err(ProcessError::NotFound(format!("tenant {id}")).into())
        }
        Err(e) => Err(ProcessError::Store(e).into()),
    }
}

fn print(json_output: bool, value: &Value, text: impl FnOnce() -> String) {
    if json_output {
        say!(
            "{}",
            serde_json::to_string_pretty(value).expect("serializable")
        );
    } else {
        say!("{}", text());
    }
}

async fn execute(store: &Store, config: &Config, args: &ProcessArgs) -> Result<(), CliError> {
    let json_output = args.json;
    match &args.command {
        ProcessCommand::Template(command) => return template(store, json_output, command).await,
        ProcessCommand::Start {
            tenant: tenant_id,
            request,
            template,
            module,
            record,
            maintainer,
            elements,
            links,
            owner,
            controller_email,
        } => {
            tenant(store, tenant_id).await?;
            let mut body = match request {
                Some(path) => read_json(path)?,
                None => json!({}),
            };
            if !body.is_object() {
                return Err(ProcessError::invalid(
                    "body",
                    "the start request must be a JSON object",
                )
                .into());
            }
            for (key, value) in [
                ("templateId", template),
                ("module", module),
                ("recordId", record),
            ] {
                if let Some(value) = value {
                    body[key] = json!(value);
                }
            }
            if let Some(maintainer) = maintainer {
                body["maintainer"] = json!(maintainer);
            }
            if let Some(path) = elements {
                body["elements"] = read_json(path)?;
            }
            for (module, record) in links {
                if !body["links"].is_object() {
                    body["links"] = json!({});
                }
                body["links"][module.as_str()] = json!({"recordId": record});
            }
            if let Some(owner) = owner {
                body["owner"] = json!(owner);
            }
            if let Some(email) = controller_email {
                body["controllerEmail"] = json!(email);
            }
            let process = manage::start_process(store, &config.process, tenant_id, body).await?;
            print(json_output, &manage::process_json(&process), || {
                format!("started process {}\n{}", process.id, process_text(&process))
            });
        }
        ProcessCommand::List {
            tenant: tenant_id,
            status,
            module,
            record,
            template,
        } => {
            tenant(store, tenant_id).await?;
            let filter = ProcessFilter {
                status: status.clone().unwrap_or_default(),
                module: module.clone().unwrap_or_default(),
                record_id: record.clone().unwrap_or_default(),
                template_id: template.clone().unwrap_or_default(),
            };
            manage::check_filter(&filter)?;
            let (processes, _) = store
                .list_processes(tenant_id, &filter, 0, 1000)
                .await
                .map_err(ProcessError::from)?;
            let data: Vec<Value> = processes.iter().map(manage::process_json).collect();
            print(json_output, &Value::Array(data), || {
                if processes.is_empty() {
                    return "(none)".into();
                }
                processes
                    .iter()
                    .map(|p| {
                        let current = p
                            .current_step
                            .map_or(String::new(), |c| format!(", step {c}/{}", p.step_count));
                        let overdue = if p.overdue { ", overdue" } else { "" };
                        format!(
                            "{}  {}{current}{overdue}  {} {}  \"{}\"  started {}",
                            p.id,
                            p.status,
                            p.module,
                            p.record_id,
                            p.template_name,
                            format_ms(p.created_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ProcessCommand::Show {
            tenant: tenant_id,
            id,
        } => {
            tenant(store, tenant_id).await?;
            let process = manage::get_process(store, tenant_id, id).await?;
            print(json_output, &manage::process_json(&process), || {
                process_text(&process)
            });
        }
        ProcessCommand::Cancel {
            tenant: tenant_id,
            id,
        } => {
            tenant(store, tenant_id).await?;
            let process = manage::cancel_process(store, tenant_id, id).await?;
            print(json_output, &manage::process_json(&process), || {
                format!(
                    "cancelled process {}\n{}",
                    process.id,
                    process_text(&process)
                )
            });
        }
        ProcessCommand::Activities {
            tenant: tenant_id,
            module,
            record,
        } => {
            tenant(store, tenant_id).await?;
            let (entries, _) =
                manage::list_activities(store, tenant_id, module, record, 0, 1000).await?;
            let data: Vec<Value> = entries.iter().map(manage::activity_json).collect();
            print(json_output, &Value::Array(data), || {
                if entries.is_empty() {
                    return "(none)".into();
                }
                entries
                    .iter()
                    .map(|a| {
                        let detail = if a.detail.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", a.detail)
                        };
                        format!(
                            "{}  {}  {}: {}{detail}  [{}]",
                            format_ms(a.created_at),
                            a.result,
                            a.who,
                            a.what,
                            a.responsible
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

async fn template(
    store: &Store,
    json_output: bool,
    command: &TemplateCommand,
) -> Result<(), CliError> {
    match command {
        TemplateCommand::Create {
            tenant: tenant_id,
            file,
        } => {
            tenant(store, tenant_id).await?;
            let created = manage::create_template(store, tenant_id, read_json(file)?).await?;
            print(json_output, &manage::template_json(&created), || {
                format!(
                    "created process template {} ({}, {} steps)",
                    created.id,
                    created.spec.name,
                    created.spec.steps.len()
                )
            });
        }
        TemplateCommand::List { tenant: tenant_id } => {
            tenant(store, tenant_id).await?;
            let (templates, _) = store
                .list_process_templates(tenant_id, 0, 1000)
                .await
                .map_err(ProcessError::from)?;
            let data: Vec<Value> = templates.iter().map(manage::template_json).collect();
            print(json_output, &Value::Array(data), || {
                if templates.is_empty() {
                    return "(none)".into();
                }
                templates
                    .iter()
                    .map(|t| format!("{}  {}  ({} steps)", t.id, t.spec.name, t.spec.steps.len()))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TemplateCommand::Show {
            tenant: tenant_id,
            id,
        } => {
            tenant(store, tenant_id).await?;
            let found = manage::get_template(store, tenant_id, id).await?;
            let value = manage::template_json(&found);
            print(json_output, &value, || {
                serde_json::to_string_pretty(&value).expect("serializable")
            });
        }
        TemplateCommand::Update {
            tenant: tenant_id,
            id,
            file,
        } => {
            tenant(store, tenant_id).await?;
            let updated = manage::replace_template(store, tenant_id, id, read_json(file)?).await?;
            print(json_output, &manage::template_json(&updated), || {
                format!(
                    "updated process template {} (revision {})",
                    updated.id, updated.revision
                )
            });
        }
        TemplateCommand::Delete {
            tenant: tenant_id,
            id,
        } => {
            tenant(store, tenant_id).await?;
            manage::delete_template(store, tenant_id, id).await?;
            print(json_output, &json!({"id": id, "deleted": true}), || {
                format!("deleted process template {id}")
            });
        }
    }
    Ok(())
}

/// A process and its steps, for people.
fn process_text(process: &crate::store::Process) -> String {
    let mut out = format!(
        "{} \"{}\" for {} {}: {}{}",
        process.id,
        process.template_name,
        process.module,
        process.record_id,
        process.status,
        if process.overdue { " (overdue)" } else { "" }
    );
    if let Some(error) = &process.error {
        out.push_str(&format!("\n  error: {error}"));
    }
    for step in &process.steps {
        let (module, record) = template::step_record(process, &step.spec);
        let when = match step.status {
            StepStatus::Scheduled => step.due_at.map(|t| format!(" due {}", format_ms(t))),
            StepStatus::Running => step.started_at.map(|t| format!(" since {}", format_ms(t))),
            _ => step.finished_at.map(|t| format!(" at {}", format_ms(t))),
        }
        .unwrap_or_default();
        out.push_str(&format!(
            "\n  {}. {:<10}{when}  {}  ({module} {record}, {})",
            step.position,
            step.status,
            template::step_label(&step.spec),
            template::responsible_label(process, &step.spec)
        ));
        if step.overdue_at.is_some() {
            out.push_str(&format!(
                "\n     overdue: {}",
                step.notice.as_deref().unwrap_or("controller not yet told")
            ));
        }
        if let Some(error) = &step.error {
            out.push_str(&format!("\n     error: {error}"));
        }
    }
    out
}
