//! `ferrocore reflector` as processes: a reflector started from a TOML file plus flags, two
//! `ferrocore reflector client` processes (one announcing over IPv4, one subscribed over IPv6),
//! the JSON status endpoint, and `kill -9` of the announcer withdrawing its routes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrocore_tests::ferrocore_bin;

fn free_port(host: &str) -> u16 {
    TcpListener::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when dropped, so a failed assertion leaves no process behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ferrocore(args: &[&str]) -> Proc {
    let child = Command::new(ferrocore_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", ferrocore_bin().display()));
    Proc(child)
}

/// Collects a child's stdout lines in the background.
fn lines_of(p: &mut Proc) -> Arc<Mutex<Vec<String>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let stdout = p.0.stdout.take().unwrap();
    let sink = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    out
}

#[allow(clippy::disallowed_methods)] // test harness timing, outside any simulated code
fn wait_until(limit: Duration, f: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn has(lines: &Mutex<Vec<String>>, want: &str) -> bool {
    lines.lock().unwrap().iter().any(|l| l == want)
}

#[test]
fn reflector_processes_reflect_and_withdraw() {
    let (v4, v6, status) = (
        free_port("127.0.0.1"),
        free_port("::1"),
        free_port("127.0.0.1"),
    );
    let dir = std::env::temp_dir().join(format!("ferrocore-reflector-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("reflector.toml");
    let toml =
        format!("listen = [\"127.0.0.1:{v4}\", \"[::1]:{v6}\"]\nkeepalive = 5\nlog = \"warn\"\n");
    std::fs::write(&config, toml).unwrap();
    let status_addr = format!("127.0.0.1:{status}");
    // The file sets keepalive 5; the flag overrides it with 1.
    let cfg = config.to_str().unwrap();
    let _reflector = ferrocore(&[
        "reflector",
        "--config",
        cfg,
        "--status",
        &status_addr,
        "--keepalive",
        "1",
    ]);
    assert!(
        wait_until(Duration::from_secs(10), || get(
            &status_addr,
            "/status.json"
        )
        .is_some()),
        "reflector did not start"
    );

    let server6 = format!("[::1]:{v6}");
    let mut sub = ferrocore(&[
        "reflector",
        "client",
        "--server",
        &server6,
        "--subscribe",
        "23",
        "--keepalive",
        "1",
    ]);
    let seen = lines_of(&mut sub);
    let server4 = format!("127.0.0.1:{v4}");
    let (std_route, nat_route) = (
        "23#10.0.23.0/24#2001:db8::1",
        "23#10.0.0.5/32#2001:db8::3#NAT#1024#3071",
    );
    let mut announcer = ferrocore(&[
        "reflector",
        "client",
        "--server",
        &server4,
        "--announce",
        std_route,
        "--announce",
        nat_route,
        "--keepalive",
        "1",
    ]);
    let plus = |r: &str| format!("+ {r}");
    let ok = wait_until(Duration::from_secs(10), || {
        has(&seen, &plus(std_route)) && has(&seen, &plus(nat_route))
    });
    assert!(ok, "subscriber saw {:?}", seen.lock().unwrap());

    let body = get(&status_addr, "/status.json").unwrap();
    assert!(body.contains("\"routes\": 2"), "{body}");
    assert!(body.contains("\"keepalive_s\": 1"), "{body}");
    let routes = get(&status_addr, "/routes.json").unwrap();
    assert!(routes.contains(nat_route), "{routes}");

    // kill -9: the reflector sees the socket close and withdraws at once (well within two
    // keepalive timeouts, 5 s).
    let _ = announcer.0.kill();
    let minus = |r: &str| format!("- {r}");
    let ok = wait_until(Duration::from_secs(5), || {
        has(&seen, &minus(std_route)) && has(&seen, &minus(nat_route))
    });
    assert!(ok, "subscriber saw {:?}", seen.lock().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
