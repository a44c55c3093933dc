//! Pipelines from TOML: parsing, operator overrides, and located validation.
//!
//! ```toml
//! kind = "estimator"            # or "qos"
//! description = "what this pipeline is for"
//! executor_grace_ticks = 2      # forget an executor absent this many ticks
//! interval_secs = 1.0           # how often the QoS controller / node agent ticks
//!
//! [[stage]]
//! type = "valve"
//!
//! [[stage]]
//! type = "slack"
//! fraction = 0.7
//! ```
//!
//! An optional `[probe]` table tells a host-side embedder to enrich usage
//! with its own readings (see [`ProbeSettings`]).
//!
//! Overrides (module parameters, CLI flags) are `key=value` for a top-level
//! key, or `stage.key=value` where `stage` is a stage's `name` (default: its
//! type) or its 1-based index; the value is TOML (a bare word is a string).

mod error;
pub mod reader;
mod sli;
mod source;
pub mod words;

pub use error::{ConfigError, ConfigErrors, Origin};
pub use reader::ParamReader;
pub use source::Source;
pub use words::{did_you_mean, with_article};

use crate::pipeline::{Pipeline, PipelineKind, PipelineSetup, StageInfo};
use crate::signal::SignalNames;
use crate::stages::{self, BuildContext};
use crate::valve::ValveControl;
use reader::OverrideValue;
use std::sync::Arc;
use toml::de::{DeTable, DeValue};

/// Links a pipeline to the world when it is built.
#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// The pipeline's own valve (created if `None`); operators open and
    /// close it, e.g. through the module's HTTP route.
    pub valve: Option<Arc<ValveControl>>,
    /// For a QoS pipeline: the estimator's valve, which `pause_estimator`
    /// closes while the controller corrects.
    pub estimator_valve: Option<Arc<ValveControl>>,
}

struct ParsedOverride<'i> {
    stage: Option<String>,
    value: OverrideValue<'i>,
}

fn parse_override<'i>(text: &'i str, errors: &mut Vec<ConfigError>) -> Option<ParsedOverride<'i>> {
    let Some((lhs, rhs)) = text.split_once('=') else {
        errors.push(ConfigError {
            origin: Origin::Override(text.to_owned()),
            stage: None,
            key: None,
            value: None,
            message: "an override must read `key=value` or `stage.key=value`".into(),
        });
        return None;
    };
    let lhs = lhs.trim();
    let rhs = rhs.trim();
    let (stage, key) = match lhs.rsplit_once('.') {
        Some((s, k)) => (Some(s.trim().to_owned()), k.trim().to_owned()),
        None => (None, lhs.to_owned()),
    };
    if key.is_empty() || stage.as_deref() == Some("") {
        errors.push(ConfigError {
            origin: Origin::Override(text.to_owned()),
            stage: None,
            key: Some(lhs.to_owned()),
            value: None,
            message: "an override must read `key=value` or `stage.key=value`".into(),
        });
        return None;
    }
    let value = match DeValue::parse(rhs) {
        Ok(v) => v.into_inner(),
        Err(_) => DeValue::String(rhs.into()),
    };
    Some(ParsedOverride {
        stage,
        value: OverrideValue {
            key,
            value,
            text: text.to_owned(),
        },
    })
}

fn syntax_error(source: &Source<'_>, e: &toml::de::Error) -> ConfigError {
    let origin = match e.span() {
        Some(span) => source.origin(span.start),
        None => source.origin(0),
    };
    ConfigError {
        origin,
        stage: None,
        key: None,
        value: None,
        message: format!("TOML syntax: {}", e.message().trim()),
    }
}

/// Builds a pipeline from a TOML text. `file` names it in messages and gives
/// the pipeline its name (the file stem). Every problem is reported at once.
pub fn build_pipeline(
    file: &str,
    text: &str,
    overrides: &[String],
    options: BuildOptions,
) -> Result<Pipeline, ConfigErrors> {
    build_pipeline_with_stages(file, text, overrides, options, &[])
}

/// [`build_pipeline`] with stage types beyond the catalogue (an embedder's
/// own stages, test detectors). The catalogue wins on a name clash.
pub fn build_pipeline_with_stages(
    file: &str,
    text: &str,
    overrides: &[String],
    options: BuildOptions,
    extra_stages: &'static [stages::StageType],
) -> Result<Pipeline, ConfigErrors> {
    let source = Source::new(file, text);
    let mut errors = Vec::new();
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        errors.extend(syntax.iter().map(|e| syntax_error(&source, e)));
        return Err(ConfigErrors(errors));
    }
    let doc = doc.into_inner();

    let parsed: Vec<ParsedOverride<'_>> = overrides
        .iter()
        .filter_map(|o| parse_override(o, &mut errors))
        .collect();

    let mut signals = SignalNames::default();
    let top_origin = source.origin(0);

    // Top level.
    let mut top = ParamReader {
        source: &source,
        table: &doc,
        overrides: parsed
            .iter()
            .filter(|p| p.stage.is_none())
            .map(|p| &p.value)
            .collect(),
        stage: None,
        table_origin: top_origin.clone(),
        used: Vec::new(),
        errors: &mut errors,
        signals: &mut signals,
        section: None,
    };
    let kind = match top.opt_string("kind").as_deref() {
        Some("estimator") => Some(PipelineKind::Estimator),
        Some("qos") => Some(PipelineKind::Qos),
        Some(_) => {
            top.problem(Some("kind"), "must be \"estimator\" or \"qos\"");
            None
        }
        None => {
            top.problem(
                None,
                "missing `kind`: say kind = \"estimator\" or kind = \"qos\"",
            );
            None
        }
    };
    let description = top.opt_string("description").unwrap_or_default();
    let grace = top.u64("executor_grace_ticks", 2, reader::any_u64);
    let interval_secs = top.f64("interval_secs", 1.0, reader::positive);
    top.used.push("stage".into());
    top.used.push("probe".into());
    top.used.push("sli".into());
    // Unknown top-level keys are reported once the stages are built, so that
    // a stage key written at the top level can name the stages that take it.
    let top_known = top.known_keys();
    let top_unknown = top.unknown_keys(&[]);
    let top_errors_at = errors.len();
    let probe = read_probe(&source, &doc, &mut errors, &mut signals);
    let slis: Arc<[crate::sli::SliSpec]> =
        sli::read_slis(&source, &doc, &mut errors, &mut signals, interval_secs).into();

    let stage_tables: Vec<&toml::Spanned<DeValue<'_>>> =
        match doc.iter().find(|(k, _)| k.get_ref() == "stage") {
            None => {
                errors.push(ConfigError {
                    origin: top_origin.clone(),
                    stage: None,
                    key: None,
                    value: None,
                    message: "no stages: add at least one [[stage]] table".into(),
                });
                Vec::new()
            }
            Some((_, v)) => match v.get_ref() {
                DeValue::Array(items) if !items.is_empty() => items.iter().collect(),
                _ => {
                    errors.push(ConfigError {
                        origin: source.origin(v.span().start),
                        stage: None,
                        key: Some("stage".into()),
                        value: None,
                        message: "`stage` must be an array of tables, written [[stage]]".into(),
                    });
                    Vec::new()
                }
            },
        };

    // Stage names (for overrides): the `name` key, else the type.
    let names: Vec<String> = stage_tables
        .iter()
        .map(|t| match t.get_ref() {
            DeValue::Table(tbl) => ["name", "type"]
                .iter()
                .find_map(|k| {
                    tbl.iter()
                        .find(|(key, _)| key.get_ref() == *k)
                        .and_then(|(_, v)| match v.get_ref() {
                            DeValue::String(s) => Some(s.to_string()),
                            _ => None,
                        })
                })
                .unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    for p in parsed.iter().filter(|p| p.stage.is_some()) {
        let sel = p.stage.as_deref().unwrap_or_default();
        let by_index = sel
            .parse::<usize>()
            .ok()
            .filter(|i| *i >= 1 && *i <= names.len());
        let matches = names.iter().filter(|n| n.as_str() == sel).count();
        let message = if by_index.is_some() {
            None
        } else if matches == 0 {
            Some(format!(
                "no stage is named `{sel}`{} (stages: {}); use a stage name or a 1-based index",
                words::suggestion(sel, names.iter().map(String::as_str)),
                names.join(", ")
            ))
        } else if matches > 1 {
            Some(format!(
                "{matches} stages are named `{sel}`; give them distinct `name`s or use a 1-based index"
            ))
        } else {
            None
        };
        if let Some(message) = message {
            errors.push(ConfigError {
                origin: Origin::Override(p.value.text.clone()),
                stage: None,
                key: None,
                value: None,
                message,
            });
        }
    }

    let valve = options.valve.clone().unwrap_or_default();
    let mut ctx = BuildContext {
        kind: kind.unwrap_or(PipelineKind::Estimator),
        valve: valve.clone(),
        estimator_valve: options.estimator_valve.clone(),
        has_valve: false,
        stage_name: std::sync::Arc::from(""),
        slis: slis.clone(),
    };
    let mut built = Vec::new();
    // (index, type, keys read) of every stage built, for messages about
    // stage keys written at the top level.
    let mut stage_keys: Vec<(usize, &'static str, Vec<String>)> = Vec::new();
    for (i, t) in stage_tables.iter().enumerate() {
        let index = i + 1;
        let DeValue::Table(table) = t.get_ref() else {
            errors.push(ConfigError {
                origin: source.origin(t.span().start),
                stage: Some((index, "?".into())),
                key: None,
                value: None,
                message: "a stage must be a table".into(),
            });
            continue;
        };
        let type_name = table
            .iter()
            .find(|(k, _)| k.get_ref() == "type")
            .map(|(_, v)| (v, v.get_ref()));
        let type_name = match type_name {
            Some((_, DeValue::String(s))) => s.to_string(),
            Some((v, _)) => {
                errors.push(ConfigError {
                    origin: source.origin(v.span().start),
                    stage: Some((index, "?".into())),
                    key: Some("type".into()),
                    value: Some(source.snippet(v.span())),
                    message: "must be a string naming a stage type".into(),
                });
                continue;
            }
            None => {
                errors.push(ConfigError {
                    origin: source.origin(t.span().start),
                    stage: Some((index, "?".into())),
                    key: None,
                    value: None,
                    message: "missing `type`".into(),
                });
                continue;
            }
        };
        let stage_overrides: Vec<&OverrideValue<'_>> = parsed
            .iter()
            .filter(|p| match p.stage.as_deref() {
                Some(sel) => sel == names[i] || sel.parse::<usize>().ok() == Some(index),
                None => false,
            })
            .map(|p| &p.value)
            .collect();
        let mut r = ParamReader {
            source: &source,
            table,
            overrides: stage_overrides,
            stage: Some((index, type_name.clone())),
            table_origin: source.origin(t.span().start),
            used: Vec::new(),
            errors: &mut errors,
            signals: &mut signals,
            section: None,
        };
        let name = r.opt_string("name").unwrap_or_else(|| type_name.clone());
        let stage_type = stages::lookup(&type_name)
            .or_else(|| extra_stages.iter().find(|s| s.name == type_name));
        match stage_type {
            None => {
                let known: Vec<&str> = stages::STAGE_TYPES
                    .iter()
                    .chain(extra_stages)
                    .map(|s| s.name)
                    .collect();
                let hint = words::suggestion(&type_name, known.iter().copied());
                r.problem(
                    Some("type"),
                    format!("unknown stage type{hint} (known: {})", known.join(", ")),
                );
            }
            Some(st) => {
                if let Some(k) = kind {
                    if !st.kinds.contains(&k) {
                        r.problem(
                            Some("type"),
                            format!(
                                "{} stage cannot run in {} pipeline (it belongs in: {})",
                                with_article(st.name),
                                with_article(k.as_str()),
                                st.kinds
                                    .iter()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
                ctx.stage_name = std::sync::Arc::from(name.as_str());
                let stage = (st.build)(&mut r, &mut ctx);
                r.finish(&["type", "name"]);
                stage_keys.push((index, st.name, r.known_keys()));
                built.push((
                    StageInfo {
                        index,
                        type_name: st.name,
                        name,
                    },
                    stage,
                ));
            }
        }
    }

    let top_errors: Vec<ConfigError> = top_unknown
        .into_iter()
        .map(|u| unknown_top_level_key(file, u, &top_known, &stage_keys, &names, extra_stages))
        .collect();
    errors.splice(top_errors_at..top_errors_at, top_errors);

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let Some(kind) = kind else {
        return Err(ConfigErrors(vec![ConfigError {
            origin: top_origin,
            stage: None,
            key: Some("kind".into()),
            value: None,
            message: "missing `kind`".into(),
        }]));
    };
    let name = std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_owned());
    Ok(Pipeline::new(PipelineSetup {
        kind,
        name,
        description,
        grace_ticks: grace,
        interval_secs,
        stages: built,
        signals,
        valve,
        has_valve: ctx.has_valve,
        probe,
        slis,
    }))
}

/// The keys a stage type reads, found by building it from an empty table
/// (problems of that build are dropped).
fn keys_of(st: &stages::StageType) -> Vec<String> {
    let source = Source::new("", "");
    let table = DeTable::new();
    let mut errors = Vec::new();
    let mut signals = SignalNames::default();
    let mut r = ParamReader {
        source: &source,
        table: &table,
        overrides: Vec::new(),
        stage: None,
        table_origin: source.origin(0),
        used: Vec::new(),
        errors: &mut errors,
        signals: &mut signals,
        section: None,
    };
    let mut ctx = BuildContext {
        kind: st.kinds.first().copied().unwrap_or(PipelineKind::Estimator),
        valve: Arc::default(),
        // Linked, so that builders have nothing to say about a missing valve.
        estimator_valve: Some(Arc::default()),
        has_valve: false,
        stage_name: Arc::from(st.name),
        slis: Arc::from(Vec::new()),
    };
    let _ = (st.build)(&mut r, &mut ctx);
    r.known_keys()
}

/// The problem of a top-level key (in the file or an override) that the
/// pipeline does not take. When stages take a key of that name, it says
/// which stage types do, and which stages of this pipeline, with the
/// override or the table to write instead.
fn unknown_top_level_key(
    file: &str,
    u: reader::UnknownKey,
    top_known: &[String],
    stage_keys: &[(usize, &'static str, Vec<String>)],
    names: &[String],
    extra_stages: &'static [stages::StageType],
) -> ConfigError {
    let key = u.key.as_str();
    let types: Vec<&str> = stages::STAGE_TYPES
        .iter()
        .chain(extra_stages)
        .filter(|st| keys_of(st).iter().any(|k| k == key))
        .map(|st| st.name)
        .collect();
    let here: Vec<&(usize, &str, Vec<String>)> = stage_keys
        .iter()
        .filter(|(_, _, keys)| keys.iter().any(|k| k == key))
        .collect();
    // A stage's selector in overrides: its name when no other stage has it,
    // else its index.
    let selector = |index: usize| -> String {
        let name = names.get(index - 1).map(String::as_str).unwrap_or_default();
        if !name.is_empty() && names.iter().filter(|n| *n == name).count() == 1 {
            name.to_owned()
        } else {
            index.to_string()
        }
    };
    let message = if types.is_empty() && here.is_empty() {
        let mut hint = words::suggestion(key, top_known.iter().map(String::as_str));
        if hint.is_empty() {
            // Perhaps a misspelt stage key: suggest it with its stage.
            hint = stage_keys
                .iter()
                .find_map(|(index, _, keys)| {
                    words::did_you_mean(key, keys.iter().map(String::as_str))
                        .map(|k| format!("; did you mean `{}.{k}`?", selector(*index)))
                })
                .unwrap_or_default();
        }
        format!(
            "unknown key{hint} (the pipeline takes: {})",
            top_known.join(", ")
        )
    } else {
        let mut m = if types.is_empty() {
            "a key of stages, not of the pipeline".to_owned()
        } else {
            format!(
                "a key of stages ({}), not of the pipeline",
                types.join(", ")
            )
        };
        let listed: Vec<String> = here.iter().map(|(i, t, _)| format!("{i} ({t})")).collect();
        let (stage_word, verb) = if here.len() == 1 {
            ("stage", "takes")
        } else {
            ("stages", "take")
        };
        match (&u.override_text, here.is_empty()) {
            (_, true) => m.push_str(&format!("; no stage of {file} takes it")),
            (Some(text), false) => {
                let value = text.split_once('=').map_or("", |(_, v)| v.trim());
                let writes: Vec<String> = here
                    .iter()
                    .map(|(i, _, _)| format!("`{}.{key}={value}`", selector(*i)))
                    .collect();
                m.push_str(&format!(
                    "; in {file}, {stage_word} {} {verb} it: write {}",
                    listed.join(", "),
                    writes.join(" or ")
                ));
            }
            (None, false) => m.push_str(&format!(
                "; {stage_word} {} {verb} it: move it into {} [[stage]] table",
                listed.join(", "),
                if here.len() == 1 { "that" } else { "the right" }
            )),
        }
        m
    };
    ConfigError {
        origin: u.origin,
        stage: None,
        key: Some(key.to_owned()),
        value: u.value,
        message,
    }
}

/// Where a host-side embedder (the Mesos module, the node agent) should read
/// extra signals from: the `[probe]` table. The core only carries these
/// settings; `serenity-probe` does the reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    /// Keep per-container perf counters open and fill `statistics.perf` when
    /// the agent supplies none (default true when `[probe]` is present).
    pub perf: bool,
    /// Root of the cgroup mounts (default `/sys/fs/cgroup`).
    pub cgroup_root: String,
    /// Directory of the containers' groups under each hierarchy (default `mesos`).
    pub prefix: String,
    /// Seconds between perf readings when the embedder paces itself (default 1.0).
    pub perf_interval_secs: f64,
    /// Fill the starvation totals (run-queue delay from the container's
    /// tasks, PSI from its v2 group) when the agent supplies none (default
    /// true when `[probe]` is present).
    pub starvation: bool,
}

fn read_probe(
    source: &Source<'_>,
    doc: &DeTable<'_>,
    errors: &mut Vec<ConfigError>,
    signals: &mut SignalNames,
) -> Option<ProbeSettings> {
    let (key, value) = doc.iter().find(|(k, _)| k.get_ref() == "probe")?;
    let DeValue::Table(table) = value.get_ref() else {
        errors.push(ConfigError {
            origin: source.origin(key.span().start),
            stage: None,
            key: Some("probe".into()),
            value: Some(source.snippet(value.span())),
            message: "must be a table, written [probe]".into(),
        });
        return None;
    };
    let mut r = ParamReader {
        source,
        table,
        overrides: Vec::new(),
        stage: None,
        table_origin: source.origin(key.span().start),
        used: Vec::new(),
        errors,
        signals,
        section: Some("probe"),
    };
    let settings = ProbeSettings {
        perf: r.bool("perf", true),
        cgroup_root: r
            .opt_string("cgroup_root")
            .unwrap_or_else(|| "/sys/fs/cgroup".into()),
        prefix: r.opt_string("prefix").unwrap_or_else(|| "mesos".into()),
        perf_interval_secs: r.f64("perf_interval_secs", 1.0, reader::positive),
        starvation: r.bool("starvation", true),
    };
    if settings.cgroup_root.is_empty() {
        r.problem(Some("cgroup_root"), "must not be empty");
    }
    r.finish(&[]);
    Some(settings)
}
