//! The client the network agent (and `ferrocore dataplane ctl`, and the tests) use to program
//! a data plane over its unix socket. Blocking and simple: one request, one answer.

use std::net::Ipv6Addr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

use super::codec::{CodecError, read_frame, write_frame};
use super::proto::{ApiError, Reply, Request, Response, Stats};

/// How long one call may take before the client gives up: programming is applied between
/// packet bursts, so anything near this means the data plane is stuck.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The socket or framing failed.
    #[error("Data plane API transport failed")]
    Transport(#[from] CodecError),
    /// The data plane closed the connection.
    #[error("Data plane closed the API connection")]
    Closed,
    /// The data plane refused the request.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The answer was not the kind the call expects.
    #[error("Unexpected answer {0}")]
    Unexpected(String),
}

/// A connection to a data plane's API.
#[derive(Debug)]
pub struct DataplaneClient {
    stream: UnixStream,
}

impl DataplaneClient {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| ClientError::Transport(e.into()))?;
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| ClientError::Transport(e.into()))?;
        Ok(Self { stream })
    }

    /// Sends a request and returns its answer.
    pub fn call(&mut self, req: &Request) -> Result<Reply, ClientError> {
        write_frame(&mut self.stream, req)?;
        let resp: Response = read_frame(&mut self.stream)?.ok_or(ClientError::Closed)?;
        Ok(resp?)
    }

    /// Sends a create request and returns the object's underlay address.
    pub fn create(&mut self, req: &Request) -> Result<Ipv6Addr, ClientError> {
        match self.call(req)? {
            Reply::Underlay(a) => Ok(a),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends a request whose answer carries nothing but success.
    pub fn apply(&mut self, req: &Request) -> Result<(), ClientError> {
        match self.call(req)? {
            Reply::Done
            | Reply::Underlay(_)
            | Reply::Deleted { .. }
            | Reply::Initialized { .. } => Ok(()),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The data plane's counters.
    pub fn stats(&mut self) -> Result<Stats, ClientError> {
        match self.call(&Request::Stats)? {
            Reply::Stats(s) => Ok(s),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}
