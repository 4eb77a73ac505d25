//! No pool over capacity: every address handed out lies in the pool, and a pool never has more
//! addresses in use than it holds (ironcore-net's IPAM; the same rule will hold machine and
//! volume pools once the schedulers join).

use std::collections::BTreeMap;

use ferrocore_api::Kind;
use ferrocore_consensus::{JsonObject, ObjectKey};

use super::Violation;
use crate::allocator::{Pool, ip_of};

const NAME: &str = "pool_capacity";

pub(crate) fn check(
    pool: Pool,
    objects: &BTreeMap<ObjectKey, JsonObject>,
    out: &mut Vec<Violation>,
) {
    let mut in_use = 0u32;
    for (key, object) in objects {
        if key.kind != Kind::VirtualIP.name() {
            continue;
        }
        let Some(ip) = ip_of(object.value()) else {
            continue;
        };
        in_use += 1;
        if pool.index_of(ip).is_none() {
            out.push(Violation::new(
                NAME,
                format!("{key} holds {ip}, outside the pool"),
            ));
        }
    }
    if in_use > pool.size {
        out.push(Violation::new(
            NAME,
            format!("{in_use} addresses in use from a pool of {}", pool.size),
        ));
    }
}
