//! Plain-Rust results that cross back to JavaScript. No napi types here, so
//! producers (kernels, the reactor, the scheduler) stay testable without Node;
//! `port.rs` turns these into JavaScript values on the event-loop thread.

/// A result value, converted to JavaScript by the port.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    BigInt(i128),
    Str(String),
    /// Becomes a `Buffer` (the Vec is handed over, not copied).
    Bytes(Vec<u8>),
    /// Becomes an `Array`.
    List(Vec<Value>),
    /// Becomes a plain object with these keys, in this order.
    Object(Vec<(&'static str, Value)>),
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok(Value),
    /// Becomes an `Error` with this `code` and message.
    Err {
        code: &'static str,
        message: String,
    },
    /// The operation observed its cancellation and stopped.
    Aborted,
    /// The operation failed with a value that JavaScript decodes (a pool
    /// task's serialized exception).
    Rejected(Value),
    /// A progress message of a running operation; more completions follow.
    Message(Value),
}

impl Outcome {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Outcome::Err {
            code,
            message: message.into(),
        }
    }
}

/// One finished operation, addressed by the id JavaScript gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub id: u32,
    pub outcome: Outcome,
}

/// Turns a caught panic payload into an error outcome.
pub fn panic_outcome(payload: Box<dyn std::any::Any + Send>) -> Outcome {
    let detail = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    };
    Outcome::error(
        "ERR_SPINDLE_PANIC",
        format!("spindle: internal error (a Rust panic was caught): {detail}"),
    )
}
