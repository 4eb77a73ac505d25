//! Any byte sequence, on any port of a fully programmed data plane (VMs, NAT, load balancer),
//! must not panic, and the counters must account for every packet.
#![no_main]

use ferrocore_node_dataplane::backend::memory::PacketBuf;
use ferrocore_node_dataplane::bench::bench_dataplane;
use ferrocore_node_dataplane::PortId;
use ferrocore_runtime::MonoTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mut dp, _) = bench_dataplane(16, 64);
    let mut buf = PacketBuf::default();
    for (i, chunk) in data.split(|&b| b == 0xa5).enumerate() {
        let port = PortId(u16::from(chunk.first().copied().unwrap_or(0) % 3));
        buf.load(chunk.get(1..).unwrap_or_default());
        buf.process(&mut dp, MonoTime::from_nanos(i as u64 * 1_000_000), port);
    }
    dp.check_invariants();
});
