//! The image's SBOM: an SPDX 2.3 JSON document naming the image (by digest), the `sealift`
//! binary and every Debian package whose files it contains, for `cosign attest --type spdxjson`.

use serde::Serialize;

/// A Debian package the image takes files from (a line of the script's `packages.tsv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Binary package name (`libc6`).
    pub name: String,
    /// Version, epoch included (`1:1.2.13.dfsg-1+deb12u1`).
    pub version: String,
    /// Debian architecture (`amd64`, `all`).
    pub architecture: String,
    /// Source package name (`glibc`).
    pub source: String,
    /// SHA-256 (hex) of the `.deb`.
    pub sha256: String,
}

impl Package {
    /// Parses `name<TAB>version<TAB>arch<TAB>source<TAB>sha256`.
    pub fn parse_line(line: &str) -> Option<Package> {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, version, architecture, source, sha256] = f.as_slice() else {
            return None;
        };
        let ok = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
        if ![name, version, architecture, source, sha256]
            .iter()
            .all(|s| ok(s))
            || sha256.len() != 64
        {
            return None;
        }
        Some(Package {
            name: (*name).to_owned(),
            version: (*version).to_owned(),
            architecture: (*architecture).to_owned(),
            source: (*source).to_owned(),
            sha256: (*sha256).to_owned(),
        })
    }

    /// Its package URL (`pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12`).
    pub fn purl(&self, distro: &str) -> String {
        let mut p = format!(
            "pkg:deb/debian/{}@{}?arch={}&distro={distro}",
            self.name,
            purl_escape(&self.version),
            self.architecture
        );
        if self.source != self.name {
            p.push_str(&format!("&upstream={}", purl_escape(&self.source)));
        }
        p
    }
}

/// Percent-encodes everything but unreserved characters (purl's rule for versions).
fn purl_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    version_info: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<String>,
    download_location: String,
    files_analyzed: bool,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    primary_package_purpose: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    external_refs: Vec<ExternalRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

/// What the SBOM describes.
pub struct Subject<'a> {
    /// Image name without tag (`ghcr.io/sealift-dev/sealift`).
    pub image: &'a str,
    /// The tag (the workspace version).
    pub version: &'a str,
    /// The image manifest digest.
    pub digest: &'a str,
    /// The git commit the binary was built from.
    pub revision: &'a str,
    /// `https://github.com/sealift-dev/sealift`.
    pub source: &'a str,
    /// `created` (RFC 3339), from `SOURCE_DATE_EPOCH`.
    pub created: &'a str,
    /// `debian-12`.
    pub distro: &'a str,
}

fn purl_oci(s: &Subject<'_>) -> String {
    let name = s.image.rsplit_once('/').map_or(s.image, |(_, n)| n);
    format!(
        "pkg:oci/{name}@{}?repository_url={}&tag={}",
        purl_escape(s.digest),
        purl_escape(s.image).replace("%2F", "/"),
        purl_escape(s.version)
    )
}

/// The SPDX 2.3 JSON document (compact, stable bytes for the same inputs).
pub fn spdx(s: &Subject<'_>, packages: &[Package]) -> serde_json::Result<Vec<u8>> {
    let hex = s.digest.trim_start_matches("sha256:");
    let mut pkgs = vec![
        SpdxPackage {
            name: s.image.to_owned(),
            spdx_id: "SPDXRef-Image".into(),
            version_info: s.version.to_owned(),
            supplier: None,
            download_location: "NOASSERTION".into(),
            files_analyzed: false,
            license_concluded: "NOASSERTION",
            license_declared: "NOASSERTION".into(),
            copyright_text: "NOASSERTION",
            source_info: None,
            primary_package_purpose: "CONTAINER",
            checksums: vec![Checksum {
                algorithm: "SHA256",
                checksum_value: hex.to_owned(),
            }],
            external_refs: vec![ExternalRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: purl_oci(s),
            }],
        },
        SpdxPackage {
            name: "sealift".into(),
            spdx_id: "SPDXRef-Package-sealift".into(),
            version_info: s.version.to_owned(),
            supplier: None,
            download_location: format!("git+{}@{}", s.source, s.revision),
            files_analyzed: false,
            license_concluded: "NOASSERTION",
            license_declared: "Apache-2.0".into(),
            copyright_text: "NOASSERTION",
            source_info: Some(format!("built from {} at {}", s.source, s.revision)),
            primary_package_purpose: "APPLICATION",
            checksums: vec![],
            external_refs: vec![ExternalRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: format!(
                    "pkg:github/sealift-dev/sealift@{}",
                    purl_escape(s.revision)
                ),
            }],
        },
    ];
    for p in packages {
        pkgs.push(SpdxPackage {
            name: p.name.clone(),
            spdx_id: format!("SPDXRef-Package-deb-{}", spdx_id_part(&p.name)),
            version_info: p.version.clone(),
            supplier: Some("Organization: Debian".into()),
            download_location: "NOASSERTION".into(),
            files_analyzed: false,
            license_concluded: "NOASSERTION",
            license_declared: "NOASSERTION".into(),
            copyright_text: "NOASSERTION",
            source_info: Some(format!(
                "Debian {} binary package, built from source package {}",
                s.distro, p.source
            )),
            primary_package_purpose: if p.name == "ca-certificates" {
                "FILE"
            } else {
                "LIBRARY"
            },
            checksums: vec![Checksum {
                algorithm: "SHA256",
                checksum_value: p.sha256.clone(),
            }],
            external_refs: vec![ExternalRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: p.purl(s.distro),
            }],
        });
    }
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: "SPDXRef-Image".into(),
    }];
    for p in &pkgs[1..] {
        relationships.push(Relationship {
            spdx_element_id: "SPDXRef-Image".into(),
            relationship_type: "CONTAINS",
            related_spdx_element: p.spdx_id.clone(),
        });
    }
    let doc = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: format!("{}:{}", s.image, s.version),
        document_namespace: format!("{}/spdx/sealift-image/{}", s.source, hex),
        creation_info: CreationInfo {
            created: s.created.to_owned(),
            creators: vec![format!("Tool: sealift-image-{}", env!("CARGO_PKG_VERSION"))],
        },
        packages: pkgs,
        relationships,
    };
    serde_json::to_vec(&doc)
}

/// SPDX ids allow letters, digits, `.` and `-` only.
fn spdx_id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_lines_and_purls() {
        let sha = "a".repeat(64);
        let p = Package::parse_line(&format!(
            "zlib1g\t1:1.2.13.dfsg-1+deb12u1\tamd64\tzlib\t{sha}"
        ))
        .unwrap();
        assert_eq!(
            p.purl("debian-12"),
            "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=zlib"
        );
        assert!(Package::parse_line("zlib1g\t1.0\tamd64\tzlib").is_none());
        assert!(Package::parse_line(&format!("a b\t1\tall\ta\t{sha}")).is_none());
    }

    #[test]
    fn the_document_is_spdx_2_3_and_names_every_package() {
        let sha = "b".repeat(64);
        let pkgs = [Package::parse_line(&format!("libc6\t2.36-9\tamd64\tglibc\t{sha}")).unwrap()];
        let s = Subject {
            image: "ghcr.io/sealift-dev/sealift",
            version: "0.1.0",
            digest: &format!("sha256:{}", "c".repeat(64)),
            revision: "0123",
            source: "https://github.com/sealift-dev/sealift",
            created: "2024-01-01T00:00:00Z",
            distro: "debian-12",
        };
        let doc: serde_json::Value = serde_json::from_slice(&spdx(&s, &pkgs).unwrap()).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["packages"][2]["name"], "libc6");
        assert_eq!(doc["relationships"].as_array().unwrap().len(), 3);
        assert_eq!(
            doc["packages"][0]["externalRefs"][0]["referenceLocator"],
            format!(
                "pkg:oci/sealift@sha256%3A{}?repository_url=ghcr.io/sealift-dev/sealift&tag=0.1.0",
                "c".repeat(64)
            )
        );
    }
}
