//! `object.watch`: a subscription that follows this controller's own watch log from a revision,
//! so it keeps going through leader changes (every member applies the same log). Each change is
//! sent once, in revision order. A client that reads slowly holds the cursor back (the
//! subscription queue fills, then the feeder waits); if it falls behind the retained watch log
//! the stream ends with `Gone` (1005) and the client lists again.

use std::sync::Arc;

use ferrocore_api::Kind;
use ferrocore_consensus::{
    Revision, Selector, StoreError, TokioRuntime, WatchError, WatchEvent, WatchStream,
};
use ferrocore_runtime::{Notifier, RpcError, Subscription, spawn};
use serde_json::{Value, json};

use super::params::WatchParams;
use super::{ApiError, Inner, kind_named};

/// Which events a watch passes on.
struct Filter {
    kind: Option<Kind>,
    namespace: Option<String>,
    selector: Selector,
}

impl Filter {
    fn matches(&self, event: &WatchEvent) -> bool {
        let kind_ok = self
            .kind
            .is_none_or(|k| event.key.kind == k.name() && event.key.group == k.group());
        let namespace_ok = self
            .namespace
            .as_ref()
            .is_none_or(|ns| &event.key.namespace == ns);
        let labels = event
            .object
            .value()
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        kind_ok && namespace_ok && self.selector.matches(labels)
    }
}

impl Inner {
    pub(super) fn watch(self: Arc<Self>, params: WatchParams) -> Result<Subscription, ApiError> {
        let kind = params.kind.as_deref().map(kind_named).transpose()?;
        let selector = Selector::parse(params.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::Params(e.to_string()))?;
        let filter = Filter {
            kind,
            namespace: params.namespace.filter(|ns| !ns.is_empty()),
            selector,
        };
        let start = match params
            .resource_version
            .as_deref()
            .filter(|rv| !rv.is_empty())
        {
            Some(rv) => Revision::parse(rv).ok_or_else(|| {
                ApiError::Params(format!("resourceVersion {rv:?} is not a revision"))
            })?,
            None => self.node.read_stale(|store| store.revision()),
        };
        let stream = self.node.watch(start).map_err(ApiError::from)?;
        let (notifier, subscription) =
            Subscription::channel(json!({"resourceVersion": start.to_resource_version()}));
        spawn(self.feed(stream, filter, notifier));
        Ok(subscription)
    }

    /// Moves events from the watch log to the subscriber until either side ends.
    async fn feed(
        self: Arc<Self>,
        mut stream: WatchStream<TokioRuntime>,
        filter: Filter,
        notifier: Notifier,
    ) {
        loop {
            let batch = tokio::select! {
                batch = stream.next_batch() => batch,
                () = notifier.closed() => return,
            };
            let events = match batch {
                Ok(events) => events,
                Err(WatchError::Store(e @ StoreError::Compacted { .. })) => {
                    notifier.fail(RpcError::from(ApiError::from(e))).await;
                    return;
                }
                Err(e) => {
                    let error = ApiError::unavailable(format!("The watch ended: {e}"));
                    notifier.fail(RpcError::from(error)).await;
                    return;
                }
            };
            for event in events.iter().filter(|e| filter.matches(e)) {
                let item = match self.event_json(event) {
                    Ok(item) => item,
                    Err(e) => {
                        notifier.fail(RpcError::from(e)).await;
                        return;
                    }
                };
                if notifier.send(item).await.is_err() {
                    return;
                }
            }
        }
    }

    fn event_json(&self, event: &WatchEvent) -> Result<Value, ApiError> {
        Ok(json!({
            "type": event.kind.as_str(),
            "revision": event.revision.to_resource_version(),
            "object": self.reveal(event.object.value())?,
        }))
    }
}
