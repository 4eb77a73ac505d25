//! A crashed controller restarts from its disk: a power loss only loses (or tears) what was not
//! yet fsynced, and the log's recovery cuts a torn tail (docs/consensus.md, "Storage on disk"),
//! so a controller that refuses to open its data after a crash is a bug.

use super::Violation;
use crate::controller::Life;

const NAME: &str = "recovery";

pub(crate) fn check(lives: &[(u64, Life)], out: &mut Vec<Violation>) {
    for (id, life) in lives {
        if let Life::Broken(why) = life {
            out.push(Violation::new(
                NAME,
                format!("c{id} cannot restart after a crash: {why}"),
            ));
        }
    }
}
