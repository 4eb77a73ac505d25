//! One actor per object: a task that sleeps until woken, runs the object's cores against the
//! cache, and carries out their commands. Its mailbox is a single wake permit (`Notify`):
//! wakes that arrive while it works coalesce into one more run, which is all a level-triggered
//! core needs. [`supervise`] restarts an actor that panicked, with doubling backoff.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferrocore_api::ObjectKey;
use ferrocore_runtime::{Clock, MonoTime, sleep, spawn};
use tokio::sync::{Notify, mpsc, watch};

use super::config::backoff;
use super::exec::{Applied, Exec, Versions};
use super::{HubEvent, SharedState, read};
use crate::ipam::IpamConfig;
use crate::reconcile::{Command, Ctx, EventType, ObjectEvent};

/// An actor's mailbox and stop flag, held by the hub.
#[derive(Debug, Default)]
pub(crate) struct ActorCell {
    notify: Notify,
    stopped: AtomicBool,
}

impl ActorCell {
    /// Asks the actor to reconcile (coalesces with pending wakes).
    pub(crate) fn wake(&self) {
        self.notify.notify_one();
    }

    /// Stops the actor (its object is gone).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// What every actor of a session shares.
#[derive(Clone)]
pub(crate) struct ActorEnv {
    pub(crate) state: SharedState,
    pub(crate) exec: Exec,
    pub(crate) ipam: IpamConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hub: mpsc::Sender<HubEvent>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) restart: (Duration, Duration),
}

impl std::fmt::Debug for ActorEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorEnv").finish_non_exhaustive()
    }
}

/// Spawns the actor of `key` under supervision; it reconciles once right away.
pub(crate) fn spawn_actor(key: ObjectKey, cell: Arc<ActorCell>, env: ActorEnv) {
    cell.wake();
    let stop = env.stop.clone();
    let restart = env.restart;
    let label = key.to_string();
    spawn(supervise(label, restart, stop, move || {
        let (key, cell, env) = (key.clone(), cell.clone(), env.clone());
        cell.wake();
        run(key, cell, env)
    }));
}

/// Runs `make()` as a task until it returns; when it panics, logs it and starts it again after
/// a doubling backoff (`restart.0` up to `restart.1`), unless `stop` turns true meanwhile.
/// Returns how many times it restarted.
pub(crate) async fn supervise<F, Fut>(
    label: String,
    restart: (Duration, Duration),
    mut stop: watch::Receiver<bool>,
    make: F,
) -> u32
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut crashes = 0u32;
    loop {
        match spawn(make()).await {
            Ok(()) => return crashes,
            Err(e) if e.is_panic() => {
                let wait = backoff(restart.0, restart.1, crashes);
                crashes = crashes.saturating_add(1);
                tracing::error!(actor = %label, crashes, ?wait, "actor panicked; restarting");
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return crashes,
                    () = sleep(wait) => {}
                }
            }
            Err(_) => return crashes,
        }
    }
}

async fn sleep_until(clock: &dyn Clock, at: Option<MonoTime>) {
    match at {
        Some(at) => sleep(at.saturating_since(clock.now())).await,
        None => std::future::pending().await,
    }
}

async fn run(key: ObjectKey, cell: Arc<ActorCell>, env: ActorEnv) {
    let mut stop = env.stop.clone();
    let mut requeue: Option<MonoTime> = None;
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            () = cell.notify.notified() => {}
            () = sleep_until(env.clock.as_ref(), requeue) => {}
        }
        if cell.is_stopped() {
            return;
        }
        requeue = None;
        let commands = reconcile(&key, &env);
        let mut versions = Versions::new();
        for command in commands {
            match command {
                Command::Requeue { after, .. } => {
                    let at = env.clock.now() + after;
                    requeue = Some(requeue.map_or(at, |r| r.min(at)));
                }
                Command::Node(request) => {
                    if env.hub.send(HubEvent::Request(request)).await.is_err() {
                        return;
                    }
                }
                Command::Event(event) => log_event(&event),
                write => match env.exec.write(&write, &mut versions).await {
                    Applied::Refused(why) => {
                        tracing::warn!(actor = %key, object = %write.key(), %why, "write refused");
                    }
                    Applied::Changed | Applied::Unchanged | Applied::Stale => {}
                },
            }
        }
    }
}

/// The commands the object's cores want now (nothing if the object is gone).
fn reconcile(key: &ObjectKey, env: &ActorEnv) -> Vec<Command> {
    let state = read(&env.state);
    let Some(object) = state.cache.get(key) else {
        return Vec::new();
    };
    let ctx = Ctx {
        now: env.clock.now(),
        wall: env.clock.wall(),
        view: state.cache.view(),
        reports: &state.reports,
    };
    crate::cores::reconcile_object(&ctx, &env.ipam, object)
}

/// Records an event (the log is where events go until `describe` shows them).
pub(crate) fn log_event(event: &ObjectEvent) {
    match event.event_type {
        EventType::Normal => {
            tracing::info!(object = %event.key, reason = %event.reason, "{}", event.message);
        }
        EventType::Warning => {
            tracing::warn!(object = %event.key, reason = %event.reason, "{}", event.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[test]
    fn a_panicking_actor_is_restarted_with_backoff_until_it_finishes() {
        let rt = ferrocore_runtime::build_runtime().unwrap();
        let runs = Arc::new(AtomicU32::new(0));
        let (_tx, stop) = watch::channel(false);
        let counted = runs.clone();
        let crashes = rt.block_on(supervise(
            "test".into(),
            (Duration::from_millis(1), Duration::from_millis(4)),
            stop,
            move || {
                let runs = counted.clone();
                async move {
                    assert!(runs.fetch_add(1, Ordering::SeqCst) >= 3, "deliberate crash");
                }
            },
        ));
        assert_eq!(crashes, 3);
        assert_eq!(runs.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_stopped_session_ends_the_restarts() {
        let rt = ferrocore_runtime::build_runtime().unwrap();
        let (tx, stop) = watch::channel(false);
        let crashes = rt.block_on(async move {
            let task = spawn(supervise(
                "test".into(),
                (Duration::from_secs(3600), Duration::from_secs(3600)),
                stop,
                || async { panic!("always") },
            ));
            sleep(Duration::from_millis(50)).await;
            tx.send(true).unwrap();
            task.await.unwrap()
        });
        assert_eq!(crashes, 1);
    }
}
