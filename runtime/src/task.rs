//! Spawning, sleeping and the process's async runtime: the only place ferrocore starts tasks or
//! waits on real time, so the simulator can substitute its own scheduler.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

/// Worker threads of the production runtime. This machine class has 2 cores; more threads than
/// cores only adds contention, and fewer leaves QUIC and Raft I/O waiting behind each other.
pub const WORKER_THREADS: usize = 2;

/// Builds the multi-threaded tokio runtime every ferrocore daemon runs on.
///
/// # Errors
/// Fails if the operating system refuses the threads or the I/O driver.
pub fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("ferrocore-worker")
        .enable_all()
        .build()
}

/// Starts `future` as a task on the current tokio runtime.
///
/// Must be called from within a runtime (as every ferrocore daemon's code is).
#[allow(clippy::disallowed_methods)] // runtime is where tasks are spawned
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

/// Waits `duration` of real time.
#[allow(clippy::disallowed_methods)] // runtime is where real time is waited on
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// The error [`timeout`] returns when the time runs out first.
pub use tokio::time::error::Elapsed;

/// Runs `future` for at most `duration` of real time.
///
/// # Errors
/// [`Elapsed`] if `duration` passes first (the future is dropped).
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    tokio::time::timeout(duration, future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawned_task_runs_and_sleep_returns() {
        let rt = build_runtime().unwrap();
        let out = rt.block_on(async {
            let handle = spawn(async {
                sleep(Duration::from_millis(1)).await;
                7
            });
            handle.await.unwrap()
        });
        assert_eq!(out, 7);
    }

    #[test]
    fn timeout_cuts_a_slow_future() {
        let rt = build_runtime().unwrap();
        rt.block_on(async {
            let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))).await;
            assert!(slow.is_err());
            assert_eq!(
                timeout(Duration::from_secs(60), async { 3 }).await.unwrap(),
                3
            );
        });
    }
}
