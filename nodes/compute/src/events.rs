//! The runtime's event log: a bounded, oldest-first list of what happened to machines.

use std::collections::VecDeque;

use ferrocore_api::iri::machine::{Event, EventFilter, EventType, ObjectMetadata, Timestamp};

/// Events kept. The control plane polls `ListEvents` every few seconds; a thousand events
/// covers minutes of busy node activity while bounding memory to well under a megabyte.
pub const MAX_EVENTS: usize = 1024;

/// A bounded event log.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    events: VecDeque<Event>,
}

impl EventLog {
    /// Appends an event, dropping the oldest past [`MAX_EVENTS`].
    pub(crate) fn push(
        &mut self,
        meta: &ObjectMetadata,
        kind: EventType,
        reason: &str,
        message: String,
        at: Timestamp,
    ) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            involved_object_meta: meta.clone(),
            reason: reason.to_string(),
            message,
            kind,
            event_time: at,
        });
    }

    /// Events passing `filter`, oldest first.
    pub(crate) fn list(&self, filter: &EventFilter) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| filter.matches(e))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_bounded_and_filtered() {
        let mut log = EventLog::default();
        let meta = ObjectMetadata::default();
        for i in 0..(MAX_EVENTS + 5) {
            let t = Timestamp(i64::try_from(i).unwrap());
            log.push(&meta, EventType::Normal, "R", format!("{i}"), t);
        }
        let all = log.list(&EventFilter::default());
        assert_eq!(all.len(), MAX_EVENTS);
        assert_eq!(all[0].message, "5");
        let window = EventFilter {
            events_from_time: Some(Timestamp(100)),
            events_to_time: Some(Timestamp(101)),
            ..EventFilter::default()
        };
        assert_eq!(log.list(&window).len(), 2);
    }
}
