//! Helpers shared by the integration tests: usage snapshots as the agent
//! would serialize them, thin safe wrappers over the C ABI, and a log
//! capture.
#![allow(dead_code)]

use prost::Message;
use serenity_core::model::proto;
use serenity_ffi::estimator::*;
use serenity_ffi::qos::*;
use serenity_ffi::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::{Mutex, Once};

/// One executor of a synthetic snapshot.
#[derive(Clone, Debug)]
pub struct Exec {
    pub framework: &'static str,
    pub executor: &'static str,
    pub container: &'static str,
    pub revocable: bool,
    pub cpus: f64,
    pub mem_mib: f64,
    /// Cumulative user+system CPU seconds at this sample.
    pub cpu_secs: f64,
}

impl Exec {
    pub fn new(executor: &'static str, revocable: bool, cpus: f64, cpu_secs: f64) -> Exec {
        Exec {
            framework: "fw-1",
            executor,
            container: executor,
            revocable,
            cpus,
            mem_mib: 512.0,
            cpu_secs,
        }
    }
}

fn scalar(name: &str, value: f64, revocable: bool) -> proto::Resource {
    proto::Resource {
        name: Some(name.into()),
        r#type: Some(0),
        scalar: Some(proto::Scalar { value: Some(value) }),
        revocable: revocable.then_some(proto::RevocableInfo {}),
        ..Default::default()
    }
}

/// A ResourceUsage at sample time `ts` on an agent with `total_cpus`.
pub fn usage(ts: f64, total_cpus: f64, execs: &[Exec]) -> proto::ResourceUsage {
    proto::ResourceUsage {
        executors: execs
            .iter()
            .map(|e| proto::Executor {
                executor_info: Some(proto::ExecutorInfo {
                    executor_id: Some(proto::ExecutorId {
                        value: Some(e.executor.into()),
                    }),
                    framework_id: Some(proto::FrameworkId {
                        value: Some(e.framework.into()),
                    }),
                    ..Default::default()
                }),
                allocated: vec![
                    scalar("cpus", e.cpus, e.revocable),
                    scalar("mem", e.mem_mib, e.revocable),
                ],
                statistics: Some(proto::ResourceStatistics {
                    timestamp: Some(ts),
                    cpus_user_time_secs: Some(e.cpu_secs * 0.8),
                    cpus_system_time_secs: Some(e.cpu_secs * 0.2),
                    cpus_limit: Some(e.cpus),
                    mem_rss_bytes: Some(256 * 1024 * 1024),
                    mem_limit_bytes: Some((e.mem_mib * 1048576.0) as u64),
                    ..Default::default()
                }),
                container_id: Some(proto::ContainerId {
                    value: Some(e.container.into()),
                    parent: None,
                }),
                tasks: vec![],
            })
            .collect(),
        total: vec![
            scalar("cpus", total_cpus, false),
            scalar("mem", 16384.0, false),
        ],
    }
}

/// Serialized, as `SerializeToString` in the agent.
pub fn bytes(u: &proto::ResourceUsage) -> Vec<u8> {
    u.encode_to_vec()
}

/// An estimator pipeline: valve, production only, slack.
pub const ESTIMATOR_TOML: &str = r#"
kind = "estimator"

[[stage]]
type = "valve"

[[stage]]
type = "pr_only"

[[stage]]
type = "slack"
fraction = 0.8
"#;

/// A QoS pipeline: valve, node overload above a quarter of the agent's cpus
/// (2 of 8 in the tests' snapshots), kill every best-effort executor.
pub const QOS_TOML: &str = r#"
kind = "qos"
interval_secs = 2.5

[[stage]]
type = "valve"

[[stage]]
type = "overload"
threshold = 0.25

[[stage]]
type = "kill_all"
"#;

/// An owned estimator handle.
pub struct Est(pub *mut serenity_estimator);

impl Est {
    pub fn from_text(name: &str, toml: &str, overrides: &[&str]) -> Result<Est, Box<ConfigErr>> {
        let name = CString::new(name).unwrap();
        let toml = CString::new(toml).unwrap();
        let o: Vec<CString> = overrides
            .iter()
            .map(|s| CString::new(*s).unwrap())
            .collect();
        let ptrs: Vec<*const c_char> = o.iter().map(|s| s.as_ptr()).collect();
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid strings and out-pointers for the call.
        let r = unsafe {
            serenity_estimator_new_from_text(
                name.as_ptr(),
                toml.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
                &mut out,
                &mut err,
            )
        };
        if r == serenity_result::Ok {
            assert!(err.is_null());
            Ok(Est(out))
        } else {
            assert!(out.is_null());
            Err(Box::new(ConfigErr::take(r, err)))
        }
    }

    pub fn update(&self, bytes: &[u8]) -> (serenity_result, serenity_slack) {
        let mut slack = serenity_slack {
            cpus: -1.0,
            mem_bytes: -1.0,
            mem_mib: -1.0,
            stopped: true,
        };
        // SAFETY: live handle, valid bytes and out-pointer.
        let r =
            unsafe { serenity_estimator_update(self.0, bytes.as_ptr(), bytes.len(), &mut slack) };
        (r, slack)
    }

    pub fn metrics(&self) -> serenity_metrics {
        let mut m = serenity_metrics::default();
        // SAFETY: live handle, valid out-pointer.
        assert_eq!(
            unsafe { serenity_estimator_metrics(self.0, &mut m) },
            serenity_result::Ok
        );
        m
    }

    pub fn last_error(&self) -> String {
        let mut buf = vec![0 as c_char; 4096];
        let mut n = 0usize;
        // SAFETY: live handle, buffer of buf.len() bytes.
        let r =
            unsafe { serenity_estimator_last_error(self.0, buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!(r, serenity_result::Ok);
        // SAFETY: NUL-terminated by the call.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Est {
    fn drop(&mut self) {
        // SAFETY: owned handle, freed once.
        unsafe { serenity_estimator_free(self.0) };
    }
}

/// One correction, copied out of the handle.
#[derive(Debug, Clone, PartialEq)]
pub struct Kill {
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
    pub reason: String,
    pub executor_index: usize,
}

/// An owned QoS handle.
pub struct Qos(pub *mut serenity_qos);

fn text(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: non-NULL NUL-terminated string owned by the handle.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Qos {
    pub fn from_text(name: &str, toml: &str, overrides: &[&str]) -> Result<Qos, Box<ConfigErr>> {
        let name = CString::new(name).unwrap();
        let toml = CString::new(toml).unwrap();
        let o: Vec<CString> = overrides
            .iter()
            .map(|s| CString::new(*s).unwrap())
            .collect();
        let ptrs: Vec<*const c_char> = o.iter().map(|s| s.as_ptr()).collect();
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid strings and out-pointers for the call.
        let r = unsafe {
            serenity_qos_new_from_text(
                name.as_ptr(),
                toml.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
                &mut out,
                &mut err,
            )
        };
        if r == serenity_result::Ok {
            Ok(Qos(out))
        } else {
            Err(Box::new(ConfigErr::take(r, err)))
        }
    }

    pub fn update(&self, bytes: &[u8]) -> (serenity_result, Vec<Kill>) {
        let mut list: *const serenity_correction = std::ptr::dangling();
        let mut n = usize::MAX;
        // SAFETY: live handle, valid bytes and out-pointers.
        let r =
            unsafe { serenity_qos_update(self.0, bytes.as_ptr(), bytes.len(), &mut list, &mut n) };
        if n == 0 {
            assert!(list.is_null(), "no corrections means a NULL list");
            return (r, vec![]);
        }
        // SAFETY: `n` entries owned by the handle until the next update.
        let entries = unsafe { std::slice::from_raw_parts(list, n) };
        let kills = entries
            .iter()
            .map(|c| Kill {
                framework_id: text(c.framework_id),
                executor_id: text(c.executor_id),
                container_id: text(c.container_id),
                reason: text(c.reason),
                executor_index: c.executor_index,
            })
            .collect();
        (r, kills)
    }

    pub fn metrics(&self) -> serenity_metrics {
        let mut m = serenity_metrics::default();
        // SAFETY: live handle, valid out-pointer.
        assert_eq!(
            unsafe { serenity_qos_metrics(self.0, &mut m) },
            serenity_result::Ok
        );
        m
    }
}

impl Drop for Qos {
    fn drop(&mut self) {
        // SAFETY: owned handle, freed once.
        unsafe { serenity_qos_free(self.0) };
    }
}

/// A configuration error copied out of the error object (which is freed).
#[derive(Debug)]
pub struct ConfigErr {
    pub code: serenity_result,
    pub text: String,
    pub messages: Vec<String>,
    pub origins: Vec<String>,
    pub keys: Vec<Option<String>>,
    pub values: Vec<Option<String>>,
    pub lines: Vec<usize>,
    pub columns: Vec<usize>,
    pub stages: Vec<(usize, Option<String>)>,
}

fn opt(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| text(p))
}

impl ConfigErr {
    pub fn take(code: serenity_result, e: *mut serenity_config_error) -> ConfigErr {
        use serenity_ffi::error::*;
        assert!(!e.is_null(), "a failed creation hands out an error object");
        // SAFETY: a live error object, freed at the end.
        unsafe {
            let n = serenity_config_error_count(e);
            let out = ConfigErr {
                code,
                text: text(serenity_config_error_text(e)),
                messages: (0..n)
                    .map(|i| text(serenity_config_error_message(e, i)))
                    .collect(),
                origins: (0..n)
                    .map(|i| text(serenity_config_error_origin(e, i)))
                    .collect(),
                keys: (0..n)
                    .map(|i| opt(serenity_config_error_key(e, i)))
                    .collect(),
                values: (0..n)
                    .map(|i| opt(serenity_config_error_value(e, i)))
                    .collect(),
                lines: (0..n).map(|i| serenity_config_error_line(e, i)).collect(),
                columns: (0..n).map(|i| serenity_config_error_column(e, i)).collect(),
                stages: (0..n)
                    .map(|i| {
                        (
                            serenity_config_error_stage_index(e, i),
                            opt(serenity_config_error_stage_type(e, i)),
                        )
                    })
                    .collect(),
            };
            assert!(
                serenity_config_error_message(e, n).is_null(),
                "out of range is NULL"
            );
            serenity_config_error_free(e);
            out
        }
    }
}

/// Every log line forwarded so far, as "LEVEL target: message".
pub static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn capture(
    _user: *mut c_void,
    level: serenity_log_level,
    target: *const c_char,
    message: *const c_char,
) {
    let line = format!("{:?} {}: {}", level, text(target), text(message));
    LOG.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

/// Installs the capturing log callback (once per test binary).
pub fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `capture` is thread-safe and never unwinds.
        let r = unsafe {
            serenity_ffi::log::serenity_set_log_callback(Some(capture), std::ptr::null_mut(), 5)
        };
        assert_eq!(r, serenity_result::Ok);
    });
}

/// Log lines containing every needle.
pub fn logged(needles: &[&str]) -> Vec<String> {
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .cloned()
        .collect()
}
