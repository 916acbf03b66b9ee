//! The test harness's own pieces: the static test app binary and `Upstream`.

use crate::support::testapp::{self, Upstream, http_get};

/// True when an ELF file has no program interpreter, i.e. it needs no dynamic loader.
fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    let (table, size, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).all(|i| {
        let at = table + i * size;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) != PT_INTERP
    })
}

#[test]
fn binary_is_static() {
    let path = testapp::binary();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        is_static_elf(&bytes),
        "{} needs a dynamic loader",
        path.display()
    );
    let dynamic = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(
        !is_static_elf(&dynamic),
        "the check must tell a dynamic binary apart"
    );
}

#[test]
fn upstreams_get_their_own_ports_and_names() {
    let first = Upstream::named("one");
    let second = Upstream::named("two");
    assert_ne!(first.port(), second.port());
    let (status, body) = http_get(&first.addr(), "/echo/x%2Fy?q=1").unwrap();
    assert_eq!(status, 200);
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["target"], "/echo/x%2Fy?q=1");
    assert_eq!(echo["name"], "one");
    let addr = second.addr();
    drop(second);
    assert!(
        http_get(&addr, "/health").is_err(),
        "a dropped upstream is gone"
    );
}
