//! The Apple configuration profile (`.mobileconfig`) that installs the CA on iOS, iPadOS
//! and macOS: an XML property list with one `com.apple.security.root` payload holding the
//! CA's DER. Its identifiers and UUIDs are derived from the CA, so the profile for one CA
//! is the same file every time and installing it again replaces it instead of adding a
//! second copy.

use anyhow::Result;
use base64::Engine;
use minijinja::context;
use sha2::{Digest, Sha256};

use super::{DER_FILE, Template};

/// The profile's XML for the CA whose certificate is `der`, named `ca_name`.
pub fn render(der: &[u8], ca_name: &str) -> Result<String> {
    let id = identifier(der);
    let content = base64::engine::general_purpose::STANDARD.encode(der);
    Template::Profile.render(context! {
        ca_name,
        cert_file => DER_FILE,
        // Line-wrapped like a PEM body; property-list data ignores the whitespace.
        cert_base64 => wrap(&content, 64),
        profile_id => id,
        profile_uuid => stable_uuid(der, "profile"),
        root_id => format!("{id}.root"),
        root_uuid => stable_uuid(der, "root"),
    })
}

/// A reverse-DNS identifier unique to this CA: the first 8 bytes of its SHA-256.
fn identifier(der: &[u8]) -> String {
    format!("ohproxy.ca.{}", hex::encode(&Sha256::digest(der)[..8]))
}

/// A UUID (RFC 9562 version 8, "custom") from the SHA-256 of the CA and a label, so each
/// payload has its own UUID and the same CA always gives the same ones.
pub fn stable_uuid(der: &[u8], label: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"ohproxy mobileconfig\0")
        .chain_update(label.as_bytes())
        .chain_update(b"\0")
        .chain_update(der)
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn wrap(text: &str, width: usize) -> String {
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(width)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_distinct_and_well_formed() {
        let a = stable_uuid(b"one CA", "root");
        assert_eq!(a, stable_uuid(b"one CA", "root"));
        assert_ne!(a, stable_uuid(b"one CA", "profile"));
        assert_ne!(a, stable_uuid(b"another CA", "root"));
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "8", "version 8");
        assert!("89AB".contains(&a[19..20]), "RFC 9562 variant");
    }

    #[test]
    fn escapes_the_ca_name_and_embeds_the_der() {
        let der = b"\x30\x82not really DER";
        let xml = render(der, "mkcert me@box <A & B>").unwrap();
        assert!(xml.contains("mkcert me@box &lt;A &amp; B&gt;"), "{xml}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        assert!(xml.contains(&b64));
        assert!(xml.contains("<string>com.apple.security.root</string>"));
        assert!(xml.contains(&stable_uuid(der, "root")));
    }
}
