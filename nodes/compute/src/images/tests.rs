use std::io::{BufRead, BufReader};
use std::net::TcpListener;

use super::*;

fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("images")).unwrap();
    (dir, store)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn raw_import_resolves_by_name_tag_and_digest() {
    let (dir, store) = store();
    let disk = write(dir.path(), "disk.raw", &[7u8; 4096]);
    let k = write(dir.path(), "k", b"kernel");
    let i = write(dir.path(), "i", b"initrd");
    let boot = BootImport::Kernel {
        kernel: ImageSource::File(k),
        initrd: ImageSource::File(i),
        cmdline: Some("console=ttyS0".into()),
    };
    let entry = store
        .import(
            "gardenlinux:rootfs-image",
            &ImageSource::File(disk.clone()),
            &boot,
        )
        .unwrap();
    assert_eq!((entry.format.as_str(), entry.virtual_size), ("raw", 4096));
    let by_name = store.resolve("gardenlinux:rootfs-image").unwrap();
    assert_eq!(by_name.digest, entry.digest);
    assert_eq!(fs::read(&by_name.path).unwrap(), vec![7u8; 4096]);
    assert!(matches!(by_name.boot, ImageBoot::Kernel { .. }));
    assert_eq!(store.resolve(&entry.digest).unwrap().path, by_name.path);
    store
        .import(
            "plain",
            &ImageSource::File(disk),
            &BootImport::Disk { uefi: true },
        )
        .unwrap();
    assert_eq!(
        store.resolve("plain:latest").unwrap().digest,
        entry.digest,
        "content-addressed"
    );
    assert_eq!(store.list().unwrap().len(), 2);
    assert!(matches!(
        store.resolve("gardenlinux:other"),
        Err(ImageError::NotFound(_))
    ));
    assert!(matches!(
        store.resolve("sha256:00"),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn qcow2_is_detected_and_backing_files_refused() {
    let (dir, store) = store();
    let mut header = vec![0u8; 512];
    header[..4].copy_from_slice(b"QFI\xfb");
    header[24..32].copy_from_slice(&(10u64 << 30).to_be_bytes());
    let q = write(dir.path(), "q.qcow2", &header);
    let entry = store
        .import(
            "q",
            &ImageSource::File(q),
            &BootImport::Disk { uefi: false },
        )
        .unwrap();
    assert_eq!(
        (entry.format.as_str(), entry.virtual_size),
        ("qcow2", 10 << 30)
    );
    header[8..16].copy_from_slice(&512u64.to_be_bytes());
    let b = write(dir.path(), "b.qcow2", &header);
    let err = store.import(
        "b",
        &ImageSource::File(b),
        &BootImport::Disk { uefi: false },
    );
    assert!(matches!(err, Err(ImageError::Refused(_))));
}

#[test]
fn bad_names_and_missing_sources_are_errors() {
    let (dir, store) = store();
    let f = write(dir.path(), "f", b"x");
    let disk = BootImport::Disk { uefi: false };
    assert!(matches!(
        store.import("../x", &ImageSource::File(f.clone()), &disk),
        Err(ImageError::Refused(_))
    ));
    assert!(matches!(
        store.import("sha256:abc", &ImageSource::File(f), &disk),
        Err(ImageError::Refused(_))
    ));
    let gone = ImageSource::File(dir.path().join("missing"));
    assert!(matches!(
        store.import("x", &gone, &disk),
        Err(ImageError::Source(..))
    ));
}

#[test]
fn http_import_downloads_and_hashes() {
    let (_dir, store) = store();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = vec![3u8; 100_000];
    let served = body.clone();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            served.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&served).unwrap();
    });
    let url = format!("http://127.0.0.1:{port}/disk.raw");
    let entry = store
        .import(
            "web",
            &ImageSource::parse(&url),
            &BootImport::Disk { uefi: false },
        )
        .unwrap();
    server.join().unwrap();
    assert_eq!(entry.virtual_size, 100_000);
    assert_eq!(fs::read(store.resolve("web").unwrap().path).unwrap(), body);
    let bad = ImageSource::parse("http://127.0.0.1:1/nothing");
    assert!(matches!(
        store.import("x", &bad, &BootImport::Disk { uefi: false }),
        Err(ImageError::Download(..))
    ));
}
