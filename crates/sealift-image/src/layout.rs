//! The OCI image layout: one gzip layer from a [`Tree`], the image config, the manifest and
//! `index.json`, byte for byte the same for the same inputs (sorted tar entries, one fixed mtime,
//! uid/gid from the tree, no gzip timestamp or name, JSON from structs in a fixed field order).

use crate::rootfs::{Kind, Tree};
use anyhow::{Context, Result, bail};
use flate2::{Compress, Compression, FlushCompress, Status};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer media type.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (days to civil date: Howard Hinnant's algorithm).
pub fn rfc3339(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The layer: an uncompressed tar of `tree` (its digest is the config's `diff_id`) and its gzip.
pub struct Layer {
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
    /// The gzip-compressed tar (the blob).
    pub blob: Vec<u8>,
}

/// Writes `tree` as a tar (every entry with `mtime`) and compresses it.
pub fn layer(tree: &Tree, mtime: u64) -> Result<Layer> {
    let mut tar_bytes = Vec::with_capacity(usize::try_from(tree.file_bytes())? + (1 << 20));
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        for (path, e) in tree.entries() {
            let mut h = tar::Header::new_ustar();
            h.set_mode(e.mode);
            h.set_uid(u64::from(e.uid));
            h.set_gid(u64::from(e.gid));
            h.set_mtime(mtime);
            match &e.kind {
                Kind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
                }
                Kind::File(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_slice())?;
                }
                Kind::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, target)?;
                }
            }
        }
        b.finish()?;
    }
    Ok(Layer {
        diff_id: sha256_digest(&tar_bytes),
        tar_size: tar_bytes.len() as u64,
        blob: gzip(&tar_bytes)?,
    })
}

/// gzip (RFC 1952) of `data`: a fixed header (no file name, mtime 0, OS "unknown": nothing of
/// the build machine), one raw deflate stream at the default level, CRC-32 and size.
///
/// Framed here rather than with `flate2::GzBuilder`, whose CRC goes through the deflate backend:
/// unoptimised (the debug tool the tests run) that CRC alone took ten seconds for the debug binary.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut deflate = Compress::new(Compression::default(), false);
    loop {
        let consumed = usize::try_from(deflate.total_in())?;
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(data.len() / 8 + 64 * 1024);
        }
        match deflate.compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)? {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {}
        }
    }
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    // ISIZE: the input size modulo 2^32.
    out.extend_from_slice(&((data.len() & 0xffff_ffff) as u32).to_le_bytes());
    Ok(out)
}

/// A content descriptor.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: &'static str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Platform {
    architecture: String,
    os: &'static str,
}

#[derive(Serialize)]
struct ImageConfig<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'static str,
    config: RunConfig<'a>,
    rootfs: RootFs,
    history: Vec<History<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig<'a> {
    user: String,
    exposed_ports: BTreeMap<&'static str, serde_json::Map<String, serde_json::Value>>,
    env: &'a [String],
    entrypoint: Vec<String>,
    working_dir: &'static str,
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: &'a str,
    comment: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

/// What goes into the config and manifest besides the layer.
pub struct Image<'a> {
    /// `image:tag`, the index's `org.opencontainers.image.ref.name`.
    pub ref_name: &'a str,
    /// OCI architecture (`amd64`).
    pub architecture: &'a str,
    /// `created` (RFC 3339).
    pub created: &'a str,
    /// `uid:gid`.
    pub user: String,
    /// The entrypoint (absolute path first).
    pub entrypoint: Vec<String>,
    /// `KEY=value` environment.
    pub env: &'a [String],
    /// Config labels, also the manifest's annotations.
    pub labels: &'a BTreeMap<String, String>,
}

/// The digests of a written layout.
pub struct Written {
    /// The image manifest digest (what to pin and sign).
    pub manifest_digest: String,
    /// Its size in bytes.
    pub manifest_size: u64,
    /// The config digest.
    pub config_digest: String,
    /// The compressed layer size.
    pub layer_size: u64,
}

fn write_blob(dir: &Path, bytes: &[u8]) -> Result<String> {
    let digest = sha256_digest(bytes);
    let path = dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(digest)
}

/// Writes the OCI image layout of `image` with `layer` into `dir`, replacing a layout already
/// there (a directory that exists and is neither empty nor a layout is refused).
pub fn write(dir: &Path, image: &Image<'_>, layer: &Layer) -> Result<Written> {
    if dir.exists() {
        let empty = fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join("oci-layout").exists() {
            bail!(
                "{} exists and is not an OCI image layout: refusing to replace it",
                dir.display()
            );
        }
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir.join("blobs/sha256"))
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;

    let layer_digest = write_blob(dir, &layer.blob)?;
    let history = [History {
        created: image.created,
        created_by: "sealift-image (make image)",
        comment: "the sealift binary and the files of the Debian packages it needs",
    }];
    let config = ImageConfig {
        created: image.created,
        architecture: image.architecture,
        os: "linux",
        config: RunConfig {
            user: image.user.clone(),
            exposed_ports: BTreeMap::from([("8080/tcp", serde_json::Map::new())]),
            env: image.env,
            entrypoint: image.entrypoint.clone(),
            working_dir: "/",
            labels: image.labels,
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![layer.diff_id.clone()],
        },
        history: history.into(),
    };
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = write_blob(dir, &config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: Descriptor {
            media_type: OCI_CONFIG,
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        },
        layers: vec![Descriptor {
            media_type: OCI_LAYER_GZIP,
            digest: layer_digest,
            size: layer.blob.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        }],
        annotations: image.labels.clone(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = write_blob(dir, &manifest_bytes)?;
    let index = Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: vec![Descriptor {
            media_type: OCI_MANIFEST,
            digest: manifest_digest.clone(),
            size: manifest_bytes.len() as u64,
            platform: Some(Platform {
                architecture: image.architecture.to_owned(),
                os: "linux",
            }),
            annotations: BTreeMap::from([(
                "org.opencontainers.image.ref.name".to_owned(),
                image.ref_name.to_owned(),
            )]),
        }],
    };
    fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(Written {
        manifest_digest,
        manifest_size: manifest_bytes.len() as u64,
        config_digest,
        layer_size: layer.blob.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn the_same_tree_gives_the_same_layer() {
        let mut t = Tree::default();
        t.file("usr/bin/sealift", vec![7; 10_000], 0o755);
        t.symlink("lib64/ld.so", "/lib/ld.so");
        t.dir("tmp", 0o1777, 0);
        let a = layer(&t, 1_700_000_000).unwrap();
        let b = layer(&t.clone(), 1_700_000_000).unwrap();
        assert_eq!(a.diff_id, b.diff_id);
        assert_eq!(a.blob, b.blob);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(a.blob.as_slice()));
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
                e.path().unwrap().display().to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "lib64/",
                "lib64/ld.so",
                "tmp/",
                "usr/",
                "usr/bin/",
                "usr/bin/sealift"
            ]
        );
    }
}
