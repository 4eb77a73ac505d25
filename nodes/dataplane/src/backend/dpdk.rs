//! The DPDK backend: EAL with the configured devices (virtual devices such as `net_tap` and
//! `net_af_packet` in tests, PCI devices in production), one mbuf pool, one RX and one TX queue
//! per port, and one worker (the calling thread) that polls every port and runs the pipeline on
//! each mbuf in place.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferrocore_dpdk_sys as sys;
use ferrocore_runtime::{Clock, MonoTime};
use thiserror::Error;

use crate::api::server::ProgramQueue;
use crate::config::DaemonConfig;
use crate::packet::frame::Frame;
use crate::pipeline::{Dataplane, PortConfig, Verdict};
use crate::tables::PortKind;
use crate::types::{Mac, PortId};

/// Mbufs received per port per poll (DPDK's customary burst).
const BURST_U16: u16 = 32;
const BURST: usize = BURST_U16 as usize;
/// Descriptors per RX and TX queue.
const DESCRIPTORS: u16 = 1_024;
/// Default pool size: enough for every port's rings plus bursts in flight.
const DEFAULT_MBUFS: u32 = 16_383;
/// Data room per mbuf: the 128-byte headroom DPDK reserves plus a 2048-byte frame.
const DATA_ROOM: u16 = 2_048 + 128;
/// Empty polls in a row before the worker sleeps for `idle_sleep_us`.
const IDLE_POLLS: u32 = 1_000;
/// How often conntrack ages a batch of flows.
const TICK: Duration = Duration::from_millis(100);

/// Why the DPDK backend failed.
#[derive(Debug, Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed.
    #[error("EAL initialisation failed (rte_errno {0}); check the EAL arguments and devices")]
    Eal(i32),
    /// The mbuf pool could not be created.
    #[error("Cannot create the mbuf pool (rte_errno {0})")]
    Pool(i32),
    /// A configured device did not appear as an ethdev.
    #[error("DPDK device {0:?} did not appear")]
    MissingDevice(String),
    /// Port setup failed.
    #[error("Cannot start DPDK port {0} (error {1})")]
    Port(String, i32),
    /// An argument has a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    Argument(String),
}

/// A device to attach: its DPDK argument (vdev string or PCI address) and its port config.
#[derive(Clone, Debug)]
pub struct DpdkPortSpec {
    /// Port name (what interfaces refer to).
    pub name: String,
    /// VM port or uplink.
    pub kind: PortKind,
    /// `--vdev` string (e.g. `net_tap0,iface=tap-a`) or a PCI address (`-a` argument).
    pub device: String,
}

impl DpdkPortSpec {
    fn is_vdev(&self) -> bool {
        self.device.starts_with("net_")
    }

    /// The ethdev name DPDK gives the device: the vdev name, or the PCI address.
    fn ethdev_name(&self) -> &str {
        self.device.split(',').next().unwrap_or(&self.device)
    }
}

/// The DPDK devices for a config: VM ports (a `net_tap` per port unless given), then the uplink
/// (`net_af_packet` on its device unless given).
pub fn dpdk_ports(cfg: &DaemonConfig) -> Vec<DpdkPortSpec> {
    let mut v: Vec<DpdkPortSpec> = cfg
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| DpdkPortSpec {
            name: p.name.clone(),
            kind: PortKind::Vm,
            device: p
                .dpdk
                .clone()
                .unwrap_or_else(|| format!("net_tap{i},iface={}", p.name)),
        })
        .collect();
    v.push(DpdkPortSpec {
        name: "uplink".into(),
        kind: PortKind::Uplink,
        device: cfg
            .uplink
            .dpdk
            .clone()
            .unwrap_or_else(|| format!("net_af_packet0,iface={}", cfg.uplink.device)),
    });
    v
}

/// Initialised EAL, pool and started ports.
#[derive(Debug)]
pub struct DpdkPorts {
    pool: *mut sys::rte_mempool,
    port_ids: Vec<u16>,
    configs: Vec<PortConfig>,
}

fn errno() -> i32 {
    // SAFETY: reads DPDK's per-thread errno; no preconditions.
    unsafe { sys::shim_errno() }
}

fn eal_init(eal_args: &[String], specs: &[DpdkPortSpec]) -> Result<(), DpdkError> {
    let mut args = vec!["ferrocore-dataplane".to_owned()];
    args.extend(eal_args.iter().cloned());
    for s in specs {
        args.push(if s.is_vdev() { "--vdev" } else { "-a" }.to_owned());
        args.push(s.device.clone());
    }
    let cargs: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| DpdkError::Argument(a.clone())))
        .collect::<Result<_, _>>()?;
    // EAL keeps pointers into argv for the life of the process, so the strings are leaked on
    // purpose (once per process).
    let mut argv: Vec<*mut c_char> = cargs.into_iter().map(CString::into_raw).collect();
    let argc = i32::try_from(argv.len()).map_err(|_| DpdkError::Argument("too many".into()))?;
    // SAFETY: argv holds argc valid NUL-terminated strings that live forever.
    let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
    std::mem::forget(argv);
    if rc < 0 {
        Err(DpdkError::Eal(errno()))
    } else {
        Ok(())
    }
}

fn ethdev_names() -> Vec<(u16, String)> {
    // SAFETY: no preconditions after EAL init.
    let n = unsafe { sys::rte_eth_dev_count_avail() };
    let mut out = Vec::new();
    for id in 0..n {
        let mut name = [0 as c_char; 64];
        // SAFETY: name has room for RTE_ETH_NAME_MAX_LEN (64) bytes.
        if unsafe { sys::rte_eth_dev_get_name_by_port(id, name.as_mut_ptr()) } == 0 {
            // SAFETY: DPDK wrote a NUL-terminated string into name.
            let s = unsafe { CStr::from_ptr(name.as_ptr()) };
            out.push((id, s.to_string_lossy().into_owned()));
        }
    }
    out
}

impl DpdkPorts {
    /// Initialises EAL with the devices and starts every port. Call once per process.
    pub fn open(
        eal_args: &[String],
        specs: &[DpdkPortSpec],
        mbufs: Option<u32>,
    ) -> Result<Self, DpdkError> {
        eal_init(eal_args, specs)?;
        let name = c"ferrocore_pool";
        // SAFETY: EAL is initialised; the name is a valid C string; sizes are in range.
        let pool = unsafe {
            sys::rte_pktmbuf_pool_create(
                name.as_ptr(),
                mbufs.unwrap_or(DEFAULT_MBUFS),
                256,
                0,
                DATA_ROOM,
                -1,
            )
        };
        if pool.is_null() {
            return Err(DpdkError::Pool(errno()));
        }
        let names = ethdev_names();
        let mut port_ids = Vec::new();
        let mut configs = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let id = names
                .iter()
                .find(|(_, n)| n == s.ethdev_name())
                .map(|(id, _)| *id)
                .ok_or_else(|| DpdkError::MissingDevice(s.device.clone()))?;
            // SAFETY: id is a valid port and pool a valid mempool.
            let rc = unsafe { sys::shim_port_init(id, pool.cast(), DESCRIPTORS) };
            if rc < 0 {
                return Err(DpdkError::Port(s.device.clone(), rc));
            }
            let mac = match s.kind {
                PortKind::Vm => {
                    let low = u16::try_from(i).unwrap_or(u16::MAX).to_be_bytes();
                    Mac([0x02, 0xfc, 0, 0, low[0], low[1]])
                }
                PortKind::Uplink => {
                    let mut a = sys::rte_ether_addr::default();
                    // SAFETY: id is a started port; a is a valid out parameter.
                    unsafe { sys::rte_eth_macaddr_get(id, &raw mut a) };
                    Mac(a.addr_bytes)
                }
            };
            port_ids.push(id);
            configs.push(PortConfig {
                name: s.name.clone(),
                kind: s.kind,
                mac,
            });
        }
        Ok(Self {
            pool,
            port_ids,
            configs,
        })
    }

    /// The ports as the pipeline needs them.
    pub fn configs(&self) -> &[PortConfig] {
        &self.configs
    }

    /// Polls every port and forwards until `stop` is set; returns packets received.
    pub fn run(
        &self,
        dp: &mut Dataplane,
        queue: Option<&ProgramQueue>,
        clock: &dyn Clock,
        stop: &AtomicBool,
        idle_sleep_us: u64,
    ) -> u64 {
        let mut rx = [std::ptr::null_mut::<sys::rte_mbuf>(); BURST];
        let mut tx: Vec<Vec<*mut sys::rte_mbuf>> =
            vec![Vec::with_capacity(BURST); self.port_ids.len()];
        let (mut idle, mut total, mut last_tick) = (0u32, 0u64, MonoTime::ZERO);
        while !stop.load(Ordering::Relaxed) {
            let now = clock.now();
            let mut got = 0;
            for (i, &pid) in self.port_ids.iter().enumerate() {
                // SAFETY: rx has room for BURST mbuf pointers; pid is a started port.
                let n =
                    usize::from(unsafe { sys::shim_rx_burst(pid, 0, rx.as_mut_ptr(), BURST_U16) });
                got += n;
                if n > 0 {
                    let port = PortId(u16::try_from(i).unwrap_or(u16::MAX));
                    forward_burst(dp, now, port, &rx[..n], &mut tx);
                    self.flush(&mut tx);
                }
            }
            total += got as u64;
            if got == 0 {
                idle += 1;
                if let Some(q) = queue {
                    q.drain(dp, now);
                }
                if idle >= IDLE_POLLS && idle_sleep_us > 0 {
                    std::thread::sleep(Duration::from_micros(idle_sleep_us));
                }
            } else {
                idle = 0;
            }
            if now.saturating_since(last_tick) >= TICK {
                if let Some(q) = queue {
                    q.drain(dp, now);
                }
                dp.tick(now);
                last_tick = now;
            }
        }
        total
    }

    fn flush(&self, tx: &mut [Vec<*mut sys::rte_mbuf>]) {
        for (out, pending) in tx.iter_mut().enumerate() {
            if pending.is_empty() {
                continue;
            }
            let n = u16::try_from(pending.len()).unwrap_or(u16::MAX);
            // SAFETY: pending holds n valid mbufs; the port is started.
            let sent = usize::from(unsafe {
                sys::shim_tx_burst(self.port_ids[out], 0, pending.as_mut_ptr(), n)
            });
            let rest = &mut pending[sent..];
            if !rest.is_empty() {
                let n = u32::try_from(rest.len()).unwrap_or(0);
                // SAFETY: the PMD did not take these mbufs; they are still ours.
                unsafe { sys::shim_pktmbuf_free_bulk(rest.as_mut_ptr(), n) };
            }
            pending.clear();
        }
    }
}

impl Drop for DpdkPorts {
    fn drop(&mut self) {
        for &id in &self.port_ids {
            // SAFETY: id is a port we started; stopping and closing it once is valid.
            unsafe {
                sys::rte_eth_dev_stop(id);
                sys::rte_eth_dev_close(id);
            }
        }
        let _ = self.pool;
        // SAFETY: every port is closed; nothing uses EAL after this.
        unsafe { sys::rte_eal_cleanup() };
    }
}

/// Runs the pipeline on a received burst in place (see [`Dataplane::process_burst`]): mbufs to
/// send are queued on their output port's `tx`, the rest are freed together.
fn forward_burst(
    dp: &mut Dataplane,
    now: MonoTime,
    port: PortId,
    rx: &[*mut sys::rte_mbuf],
    tx: &mut [Vec<*mut sys::rte_mbuf>],
) {
    let mut frames: heapless::Vec<Frame<'_>, BURST> = heapless::Vec::new();
    let mut taken: heapless::Vec<*mut sys::rte_mbuf, BURST> = heapless::Vec::new();
    let mut dropped: heapless::Vec<*mut sys::rte_mbuf, BURST> = heapless::Vec::new();
    let rx = &rx[..rx.len().min(BURST)];
    let mut spans = [sys::shim_mbuf_span::default(); BURST];
    let n = u16::try_from(rx.len()).unwrap_or(0);
    // SAFETY: rx holds n valid mbufs from rx_burst (the shim only reads them); spans has room
    // for n entries.
    unsafe { sys::shim_mbuf_view_burst(rx.as_ptr().cast_mut(), n, spans.as_mut_ptr()) };
    for (&m, span) in rx.iter().zip(&spans) {
        if span.base.is_null() {
            // Chained mbufs: larger than any frame the pipeline handles.
            let _ = dropped.push(m);
            continue;
        }
        // SAFETY: the mbuf's buffer is buf_len bytes at base, exclusively ours until we send
        // or free it, and distinct from every other mbuf's buffer in the burst.
        let buf = unsafe { std::slice::from_raw_parts_mut(span.base, usize::from(span.buf_len)) };
        // Neither push can fail: at most BURST mbufs are looked at.
        let _ = frames.push(Frame::new(
            buf,
            usize::from(span.data_off),
            usize::from(span.data_len),
        ));
        let _ = taken.push(m);
    }
    let mut verdicts = [Verdict::Drop(crate::DropReason::Malformed); BURST];
    dp.process_burst(now, port, &mut frames, &mut verdicts);
    for ((frame, &m), verdict) in frames.iter().zip(&taken).zip(verdicts) {
        let span = (u16::try_from(frame.start()), u16::try_from(frame.len()));
        match (verdict, span) {
            (Verdict::Tx(out), (Ok(start), Ok(len))) if out.index() < tx.len() => {
                // SAFETY: start + len lie inside the mbuf's buffer (Frame keeps them there).
                unsafe { sys::shim_mbuf_set(m, start, len) };
                tx[out.index()].push(m);
            }
            _ => {
                let _ = dropped.push(m);
            }
        }
    }
    if !dropped.is_empty() {
        let n = u32::try_from(dropped.len()).unwrap_or(0);
        // SAFETY: every mbuf in dropped came from rx_burst and is no longer referenced.
        unsafe { sys::shim_pktmbuf_free_bulk(dropped.as_mut_ptr(), n) };
    }
}

/// Forwards the overlay frames of capture `traffic` (replayed forever by `net_pcap`) through
/// the pipeline on the DPDK backend for `time`, with one worker on the calling thread; returns
/// packets received. `eal_args` must pin one core (e.g. `-l 1`). Once per process (EAL).
pub fn bench_forwarding(
    eal_args: &[String],
    traffic: &std::path::Path,
    time: Duration,
) -> Result<crate::bench::Figure, DpdkError> {
    let specs = [
        DpdkPortSpec {
            name: "vm0".into(),
            kind: PortKind::Vm,
            device: format!("net_pcap0,rx_pcap={},infinite_rx=1", traffic.display()),
        },
        // The other ports receive nothing (`net_null` with `no-rx`: polling them costs what
        // polling an idle NIC does, where an exhausted pcap file would be re-read on every
        // poll) and drop what they are sent, as testpmd's single pcap port does.
        DpdkPortSpec {
            name: "vm1".into(),
            kind: PortKind::Vm,
            device: "net_null1,no-rx=1".into(),
        },
        DpdkPortSpec {
            name: "uplink".into(),
            kind: PortKind::Uplink,
            device: "net_null2,no-rx=1".into(),
        },
    ];
    let ports = DpdkPorts::open(eal_args, &specs, Some(32_767))?;
    let (mut dp, _) = crate::bench::bench_dataplane(0, 1 << 16);
    let clock = ferrocore_runtime::SystemClock::new();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(time);
            stop.store(true, Ordering::Relaxed);
        })
    };
    let start = clock.now();
    let cpu_start = crate::bench::thread_cpu_time();
    let packets = ports.run(&mut dp, None, &clock, &stop, 0);
    let elapsed = clock.now().saturating_since(start);
    let cpu = crate::bench::thread_cpu_time().saturating_sub(cpu_start);
    let _ = timer.join();
    let forwarded = dp.stats().ports.iter().map(|(_, s)| s.tx_packets).sum();
    Ok(crate::bench::Figure {
        case: "Overlay (DPDK net_pcap)".into(),
        frame_len: 0,
        packets,
        forwarded,
        elapsed,
        cpu,
    })
}
