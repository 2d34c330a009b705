//! The bounded log of one call: host `log` lines and the guest's stdout and stderr.
//!
//! Guests cannot make the host buffer without bound: past `max_log_bytes` lines are dropped
//! and counted, never an error for the guest.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// `host.log` at trace level.
    Trace,
    /// `host.log` at debug level.
    Debug,
    /// `host.log` at info level.
    Info,
    /// `host.log` at warn level.
    Warn,
    /// `host.log` at error level.
    Error,
    /// A line the guest wrote to stdout.
    Stdout,
    /// A line the guest wrote to stderr (panic messages land here).
    Stderr,
    /// A line the host wrote about the call (an outbound request refused, and why).
    Host,
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Where it came from.
    pub source: LogSource,
    /// The text, without the trailing newline.
    pub message: String,
}

/// What a call left in its log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CapturedLog {
    /// The lines kept, in order.
    pub lines: Vec<LogLine>,
    /// Bytes dropped because the log was full.
    pub dropped_bytes: u64,
}

impl CapturedLog {
    /// The stderr text, joined: where a guest's panic message is found.
    pub fn stderr_text(&self) -> String {
        self.lines
            .iter()
            .filter(|l| l.source == LogSource::Stderr)
            .map(|l| l.message.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug)]
struct Buffer {
    log: CapturedLog,
    used: u64,
    cap: u64,
    /// Unterminated tail of stdout (0) and stderr (1).
    partial: [Vec<u8>; 2],
}

impl Buffer {
    fn push(&mut self, source: LogSource, message: String) {
        let size = message.len() as u64 + 1;
        if self.used + size > self.cap {
            self.log.dropped_bytes += size;
            return;
        }
        self.used += size;
        self.log.lines.push(LogLine { source, message });
    }

    fn write_stream(&mut self, index: usize, mut bytes: &[u8]) {
        let source = if index == 0 {
            LogSource::Stdout
        } else {
            LogSource::Stderr
        };
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.partial[index]);
            line.extend_from_slice(&bytes[..pos]);
            self.push(source, String::from_utf8_lossy(&line).into_owned());
            bytes = &bytes[pos + 1..];
        }
        // Keep an unterminated tail, but never more than the whole log may hold.
        let room = self.cap.saturating_sub(self.partial[index].len() as u64) as usize;
        let take = bytes.len().min(room);
        self.partial[index].extend_from_slice(&bytes[..take]);
        self.log.dropped_bytes += (bytes.len() - take) as u64;
    }
}

/// Shared handle to the log of one call.
#[derive(Debug, Clone)]
pub struct CallLog(Arc<Mutex<Buffer>>);

impl CallLog {
    /// A log that keeps at most `cap` bytes.
    pub fn new(cap: u64) -> Self {
        CallLog(Arc::new(Mutex::new(Buffer {
            log: CapturedLog::default(),
            used: 0,
            cap,
            partial: [Vec::new(), Vec::new()],
        })))
    }

    /// Appends a line from `host.log`.
    pub fn line(&self, source: LogSource, message: String) {
        self.lock().push(source, message);
    }

    /// A stream for the guest's stdout.
    pub fn stdout(&self) -> CaptureStream {
        CaptureStream {
            log: self.clone(),
            index: 0,
        }
    }

    /// A stream for the guest's stderr.
    pub fn stderr(&self) -> CaptureStream {
        CaptureStream {
            log: self.clone(),
            index: 1,
        }
    }

    /// Ends the call: flushes unterminated lines and returns what was kept.
    pub fn finish(&self) -> CapturedLog {
        let mut buf = self.lock();
        for (index, source) in [(0, LogSource::Stdout), (1, LogSource::Stderr)] {
            let tail = std::mem::take(&mut buf.partial[index]);
            if !tail.is_empty() {
                buf.push(source, String::from_utf8_lossy(&tail).into_owned());
            }
        }
        std::mem::take(&mut buf.log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        // A poisoned lock only means another writer panicked; the buffer is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// stdout or stderr of a guest, captured into its [`CallLog`].
#[derive(Debug, Clone)]
pub struct CaptureStream {
    log: CallLog,
    index: usize,
}

/// How much a guest may write in one go; larger writes are split by the guest.
const WRITE_BUDGET: usize = 64 * 1024;

impl IsTerminal for CaptureStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CaptureStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.log.lock().write_stream(self.index, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CaptureStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.log.lock().write_stream(self.index, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_assembled_and_bounded() {
        let log = CallLog::new(20);
        log.stdout()
            .write(Bytes::from_static(b"hello\nwor"))
            .unwrap();
        log.stdout().write(Bytes::from_static(b"ld\n")).unwrap();
        log.line(LogSource::Info, "a line that does not fit".into());
        log.stderr().write(Bytes::from_static(b"tail")).unwrap();
        let captured = log.finish();
        let messages: Vec<_> = captured.lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["hello", "world", "tail"]);
        assert_eq!(captured.dropped_bytes, 25);
    }
}
