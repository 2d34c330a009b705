//! The one place that reaches the host.
//!
//! Inside a component (`wasm32`) every function calls the real import; on the developer's
//! machine it calls the in-memory fakes of [`crate::testing`]. Keeping the switch here means
//! the public modules are written once and behave the same in both builds.
//!
//! The public modules (`log`, `config`, `secret`, `kv`, `http`, `time`) reach the host only through the
//! functions here. The imports are called here and, for outbound HTTP (a few wasi-http calls
//! per request), in the child module `wasi_http`.

#[cfg(target_arch = "wasm32")]
mod wasi_http;

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::Level;
    use crate::bindings::marketplace::webhook::{host, kv};
    use crate::http::{Error, Request, Response};

    pub(crate) fn log(level: Level, message: &str) {
        host::log(level, message);
    }

    pub(crate) fn config(key: &str) -> Option<String> {
        host::config(key)
    }

    pub(crate) fn secret(name: &str) -> Option<String> {
        host::secret(name)
    }

    pub(crate) fn kv_get(key: &str) -> Option<Vec<u8>> {
        kv::get(key)
    }

    pub(crate) fn kv_set(key: &str, value: &[u8]) -> Result<(), String> {
        kv::set(key, value)
    }

    pub(crate) fn kv_delete(key: &str) {
        kv::delete(key);
    }

    pub(crate) fn kv_list_keys(prefix: &str) -> Vec<String> {
        kv::list_keys(prefix)
    }

    pub(crate) fn http_send(request: &Request) -> Result<Response, Error> {
        super::wasi_http::send(request)
    }

    pub(crate) fn now_unix_seconds() -> i64 {
        system_now()
    }

    /// `std`'s clock is `wasi:clocks/wall-clock` inside a component.
    fn system_now() -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub(crate) use crate::testing::fake::{
        config, http_send, kv_delete, kv_get, kv_list_keys, kv_set, log, now_unix_seconds, secret,
    };
}

pub(crate) use imp::*;
