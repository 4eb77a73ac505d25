use std::path::PathBuf;

use super::*;
use crate::model::{DomainType, nic_alias, volume_alias};

fn spec() -> DomainSpec {
    DomainSpec {
        id: MachineId("6b1c3b1e-0000-4000-8000-000000000001".into()),
        metadata: DomainMetadata {
            id: MachineId("6b1c3b1e-0000-4000-8000-000000000001".into()),
            labels: [("uid".to_string(), "<u&1>".to_string())].into(),
        },
        domain_type: DomainType::Qemu,
        machine_type: "q35".into(),
        vcpus: 1,
        memory_bytes: 256 << 20,
        boot: BootSpec::Kernel {
            kernel: PathBuf::from("/img/k"),
            initrd: PathBuf::from("/img/i"),
            cmdline: "console=ttyS0".into(),
        },
        disks: vec![
            DiskSpec {
                volume: "root".into(),
                alias: volume_alias("root"),
                target: "vda".into(),
                serial: "root".into(),
                source: DiskSource::File {
                    path: PathBuf::from("/m/root.qcow2"),
                    format: "qcow2",
                },
                cache: "none".into(),
            },
            DiskSpec {
                volume: "ceph".into(),
                alias: volume_alias("ceph"),
                target: "vdb".into(),
                serial: "ceph".into(),
                source: DiskSource::Rbd {
                    image: "rbd/img_1".into(),
                    monitors: vec!["127.0.0.1:6789".into(), "mon2".into()],
                    user: "volumes".into(),
                    secret_uuid: "5d0c1a44-1111-4222-8333-444455556666".into(),
                    key: vec![1],
                    encryption: Some(("5d0c1a44-1111-4222-8333-444455556667".into(), vec![2])),
                },
                cache: "none".into(),
            },
        ],
        nics: vec![
            NicSpec {
                name: "a".into(),
                alias: nic_alias("a"),
                tap: Some("tap0".into()),
                mac: None,
            },
            NicSpec {
                name: "b".into(),
                alias: nic_alias("b"),
                tap: None,
                mac: Some("52:54:00:00:00:01".into()),
            },
        ],
        ignition: Some(PathBuf::from("/m/ignition.json")),
        hostname: Some(("vm1".into(), PathBuf::from("/m/hostname"))),
        console_log: PathBuf::from("/m/console.log"),
    }
}

#[test]
fn rendered_domain_parses_back() {
    let s = spec();
    let xml = domain(&s, "owner-1");
    assert!(xml.contains("<domain type='qemu'>"));
    assert!(xml.contains("opt/com.coreos/config"));
    assert!(xml.contains("<encryption format='luks2' engine='librbd'>"));
    assert!(xml.contains("<host name='mon2' port='6789'/>"));
    assert!(xml.contains("<target dev='tap0' managed='no'/>"));
    assert_eq!(xml.matches("pcie-root-port").count(), ROOT_PORTS);
    let live = parse_live(&xml).unwrap();
    let (owner, meta) = live.owner.unwrap();
    assert_eq!(owner, "owner-1");
    assert_eq!(meta, s.metadata, "labels with XML specials survive");
    assert_eq!(
        live.disks,
        vec![
            (volume_alias("root"), "vda".into()),
            (volume_alias("ceph"), "vdb".into())
        ]
    );
    assert_eq!(live.nics, vec![nic_alias("a"), nic_alias("b")]);
}

#[test]
fn foreign_domains_have_no_owner_and_bad_xml_is_an_error() {
    let live =
        parse_live("<domain><devices><disk><target dev='vda'/></disk></devices></domain>").unwrap();
    assert_eq!(live.owner, None);
    assert_eq!(live.disks, vec![(String::new(), "vda".to_string())]);
    assert!(parse_live("<domain>").is_err());
}

#[test]
fn uefi_boot_and_escaping() {
    let mut s = spec();
    s.boot = BootSpec::Uefi {
        loader: PathBuf::from("/usr/share/OVMF/OVMF_CODE_4M.fd"),
    };
    s.hostname = Some(("a'b".into(), PathBuf::from("/m/h")));
    let xml = domain(&s, "o");
    assert!(xml.contains("<os firmware='efi'>"));
    assert!(xml.contains("<title>a&apos;b</title>"));
    assert!(roxmltree::Document::parse(&xml).is_ok());
    assert!(secret("u", true, "ferrocore/m/v").contains("type='ceph'"));
}

#[test]
fn console_pty_is_read_from_live_xml() {
    let live = "<domain><devices><serial type='pty'><source path='/dev/pts/3'/></serial>\
                <console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/></console></devices></domain>";
    assert_eq!(console_pty(live).as_deref(), Some("/dev/pts/3"));
    assert_eq!(console_pty("<domain/>"), None);
}

#[test]
fn secret_usage_round_trips() {
    assert_eq!(
        secret_usage(&secret("u", true, "ferrocore/m/v")).as_deref(),
        Some("ferrocore/m/v")
    );
    assert_eq!(
        secret_usage(&secret("u", false, "ferrocore/m/v/luks")).as_deref(),
        Some("ferrocore/m/v/luks")
    );
}
