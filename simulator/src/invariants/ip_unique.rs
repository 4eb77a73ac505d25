//! No IP is handed out twice: two live VirtualIPs never hold the same address (ironcore-net's
//! IPAM rule; DESIGN.md §2 step 7, "allocators hand out VNIs, IPs and NAT port slots"). Checked
//! on the agreed store after every step, whichever allocator wrote the addresses.

use std::collections::BTreeMap;

use ferrocore_api::Kind;
use ferrocore_consensus::{JsonObject, ObjectKey};

use super::Violation;
use crate::allocator::ip_of;

const NAME: &str = "ip_unique";

pub(crate) fn check(objects: &BTreeMap<ObjectKey, JsonObject>, out: &mut Vec<Violation>) {
    let mut holders: BTreeMap<&str, &ObjectKey> = BTreeMap::new();
    for (key, object) in objects {
        if key.kind != Kind::VirtualIP.name() {
            continue;
        }
        let Some(ip) = ip_of(object.value()) else {
            continue;
        };
        if let Some(other) = holders.insert(ip, key) {
            out.push(Violation::new(
                NAME,
                format!("{ip} is held by both {other} and {key}"),
            ));
        }
    }
}
