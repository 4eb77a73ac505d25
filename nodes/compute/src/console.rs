//! A machine's serial console as a byte stream: what `Exec` hands the node agent, which
//! forwards it over QUIC. Reads wait with a timeout, so a forwarding loop can also watch for
//! the client going away.

use std::sync::Arc;
use std::time::Duration;

use ferrocore_runtime::Clock;

use crate::host::{ConsoleIo, HostError};

/// Read chunk for [`Console::run`].
const CHUNK: usize = 4096;

/// Most output [`Console::run`] collects (a shell command's answer, not a log dump).
pub(crate) const MAX_RUN_OUTPUT: usize = 1 << 20;

/// A machine's serial console (clone it to read and write from different threads).
#[derive(Clone, Debug)]
pub struct Console {
    io: Arc<dyn ConsoleIo>,
}

impl Console {
    pub(crate) fn new(io: Box<dyn ConsoleIo>) -> Self {
        Self { io: Arc::from(io) }
    }

    /// Reads what the guest wrote, waiting at most `timeout`; `Ok(0)` means nothing came.
    ///
    /// # Errors
    /// [`HostError`] once the console is closed (the domain stopped).
    pub fn read(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, HostError> {
        self.io.read(buf, timeout)
    }

    /// Sends bytes to the guest (keystrokes).
    ///
    /// # Errors
    /// [`HostError`] once the console is closed.
    pub fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        self.io.write(bytes)
    }

    /// Runs `command` in the guest's serial shell and returns what it printed before the end
    /// marker (which the shell computes, so the echo of the typed line does not match it).
    ///
    /// # Errors
    /// [`HostError::Failed`] when the marker does not appear within `timeout`.
    pub fn run(
        &self,
        clock: &dyn Clock,
        command: &str,
        timeout: Duration,
    ) -> Result<String, HostError> {
        let line = format!("{command}; echo FC-END-$((6*7))\n");
        self.write(line.as_bytes())?;
        let deadline = clock.now() + timeout;
        let mut out = Vec::new();
        let mut buf = [0u8; CHUNK];
        while clock.now() < deadline && out.len() < MAX_RUN_OUTPUT {
            let n = self.read(&mut buf, Duration::from_millis(200))?;
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out).replace('\r', "");
            if let Some(end) = text.find("FC-END-42") {
                let start = text.find(command).map_or(0, |i| i + command.len());
                let body = text[start.min(end)..end].trim_start_matches(|c| c != '\n');
                return Ok(body.trim_start_matches('\n').to_string());
            }
        }
        Err(HostError::Failed(format!(
            "no answer to {command:?} within {timeout:?}"
        )))
    }
}
