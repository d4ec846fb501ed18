//! The NIF's own log (tracing events) and Python's `logging`, both to the Erlang logger
//! through the py server. Records made before the server is known wait in a bounded queue.
use crate::base::atoms;
use rustler::{Encoder, LocalPid};
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

#[derive(Clone, Copy, Debug)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
}

impl Level {
    fn atom(self) -> rustler::Atom {
        match self {
            Level::Debug => atoms::debug(),
            Level::Info => atoms::info(),
            Level::Notice => atoms::notice(),
            Level::Warning => atoms::warning(),
            Level::Error => atoms::error(),
            Level::Critical => atoms::critical(),
        }
    }
}

const MAX_QUEUED: usize = 1000;
static SERVER: Mutex<Option<LocalPid>> = Mutex::new(None);
static QUEUE: Mutex<Vec<(Level, String, String)>> = Mutex::new(Vec::new());

pub fn server() -> Option<LocalPid> {
    *SERVER.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn set_server(pid: LocalPid) {
    *SERVER.lock().unwrap_or_else(|p| p.into_inner()) = Some(pid);
    super::housekeeping::post(super::housekeeping::Task::FlushLogs);
}

pub fn emit(level: Level, source: String, msg: String) {
    {
        let mut q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= MAX_QUEUED {
            q.remove(0);
        }
        q.push((level, source, msg));
    }
    super::housekeeping::post(super::housekeeping::Task::FlushLogs);
}

pub fn info(msg: String) {
    emit(Level::Info, "py_nif".into(), msg);
}

/// Sends the queued records; runs on the housekeeping thread (not a scheduler thread).
pub fn flush() {
    let Some(pid) = server() else { return };
    let records = std::mem::take(&mut *QUEUE.lock().unwrap_or_else(|p| p.into_inner()));
    let mut env = rustler::OwnedEnv::new();
    for (level, source, msg) in records {
        let _ = env.send_and_clear(&pid, |e| {
            (
                atoms::py_log(),
                level.atom(),
                crate::base::env::binary(e, source.as_bytes()),
                crate::base::env::binary(e, msg.as_bytes()),
            )
                .encode(e)
        });
    }
}

struct ErlangLayer;

struct MessageVisitor(String);
impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for ErlangLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warning,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        emit(level, event.metadata().target().to_string(), v.0);
    }
}

/// Installs the layer as the process-wide tracing subscriber (once; a second load keeps it).
pub fn install() {
    let subscriber = tracing_subscriber::registry().with(ErlangLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
}
