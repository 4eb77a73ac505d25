//! A domain's serial console over a libvirt stream (`virDomainOpenConsole`): works for local
//! and remote libvirt alike. A reader thread moves what the guest writes into a bounded queue,
//! so reads can wait with a timeout while writes go straight to the stream.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use virt::stream::Stream;

use crate::host::{ConsoleIo, HostError};
use crate::runtime::lock;

/// Chunks queued between the reader thread and the consumer. A console produces at most a
/// few kB/s at 115200 baud; 256 chunks of up to 4 KiB absorb a second of a slow consumer, after
/// which the reader blocks (back-pressure, not loss).
const QUEUE_CHUNKS: usize = 256;

/// Bytes per read from the stream.
const READ_CHUNK: usize = 4096;

/// The console.
pub(crate) struct StreamConsole {
    stream: Arc<Stream>,
    rx: Mutex<(Receiver<Vec<u8>>, Vec<u8>)>,
}

impl StreamConsole {
    pub(crate) fn start(stream: Stream) -> Self {
        let stream = Arc::new(stream);
        let (tx, rx) = sync_channel(QUEUE_CHUNKS);
        let reader = Arc::clone(&stream);
        // A plain thread: the libvirt stream blocks in C, outside any async runtime.
        std::thread::Builder::new()
            .name("console-reader".into())
            .spawn(move || pump(&reader, &tx))
            .ok();
        Self {
            stream,
            rx: Mutex::new((rx, Vec::new())),
        }
    }
}

impl std::fmt::Debug for StreamConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConsole").finish_non_exhaustive()
    }
}

fn pump(stream: &Stream, tx: &SyncSender<Vec<u8>>) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match stream.recv(&mut buf) {
            Ok(n) if n > 0 => {
                let n = usize::try_from(n).unwrap_or(0).min(buf.len());
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
            // End of stream (domain gone) or an error: the queue's sender drops, readers see it.
            _ => return,
        }
    }
}

impl ConsoleIo for StreamConsole {
    fn read(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, HostError> {
        let mut guard = lock(&self.rx);
        let (rx, pending) = &mut *guard;
        if pending.is_empty() {
            match rx.recv_timeout(timeout) {
                Ok(chunk) => *pending = chunk,
                Err(RecvTimeoutError::Timeout) => return Ok(0),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(HostError::NotFound("console closed".into()));
                }
            }
        }
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        pending.drain(..n);
        Ok(n)
    }

    fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self
                .stream
                .send(rest)
                .map_err(|e| HostError::Failed(format!("console write: {e}")))?;
            let n = usize::try_from(n).unwrap_or(0);
            if n == 0 {
                return Err(HostError::NotFound("console closed".into()));
            }
            rest = &rest[n.min(rest.len())..];
        }
        Ok(())
    }
}

impl Drop for StreamConsole {
    fn drop(&mut self) {
        // SAFETY: `self.stream` keeps the stream object alive for this call; aborting a stream
        // another thread blocks on makes that thread's `recv` return an error, so the reader
        // thread ends and drops the last reference.
        unsafe {
            virt::sys::virStreamAbort(self.stream.as_ptr());
        }
    }
}
