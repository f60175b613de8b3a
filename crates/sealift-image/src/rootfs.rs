//! The image's root filesystem: the `sealift` binary, exactly the files of the extracted Debian
//! packages it needs (its dynamic loader and the closure of its `DT_NEEDED` libraries, ld.so
//! configuration, a CA bundle built from the Mozilla certificates) and a few generated files
//! (`/etc/passwd`, `/etc/group`, `/etc/nsswitch.conf`). Nothing else: no shell, no other
//! executable, no documentation.

use crate::elf;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The unprivileged user and group the image runs as (distroless' `nonroot`).
pub const NONROOT: u32 = 65532;
/// Where the binary lives in the image.
pub const BINARY: &str = "usr/bin/sealift";
/// The CA bundle (what OpenSSL, rustls-native-certs and `SSL_CERT_FILE` read).
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// What an entry of the tree is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file with these bytes.
    File(Vec<u8>),
    /// A symbolic link to this target (verbatim).
    Symlink(String),
}

/// One entry: what it is, its permission bits and owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Directory, file or symlink.
    pub kind: Kind,
    /// Permission bits (`0o755`, `0o1777`, …).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
}

/// A root filesystem: entries by path relative to `/` (`usr/bin/sealift`), in byte order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// The entries, sorted by path.
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    fn parents(&mut self, path: &str) {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = &path[..at + i];
            self.entries.entry(dir.to_owned()).or_insert(Entry {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
            });
            at += i + 1;
        }
    }

    fn insert(&mut self, path: &str, kind: Kind, mode: u32, owner: u32) {
        self.parents(path);
        self.entries.insert(
            path.to_owned(),
            Entry {
                kind,
                mode,
                uid: owner,
                gid: owner,
            },
        );
    }

    /// Adds a directory (and its parents, root-owned 0755).
    pub fn dir(&mut self, path: &str, mode: u32, owner: u32) {
        self.insert(path, Kind::Dir, mode, owner);
    }

    /// Adds a root-owned regular file.
    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.insert(path, Kind::File(data), mode, 0);
    }

    /// Adds a root-owned symbolic link.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.insert(path, Kind::Symlink(target.to_owned()), 0o777, 0);
    }

    /// Total size of the regular files.
    pub fn file_bytes(&self) -> u64 {
        self.entries
            .values()
            .map(|e| match &e.kind {
                Kind::File(d) => d.len() as u64,
                _ => 0,
            })
            .sum()
    }
}

/// `path` (absolute or relative to `/`) as a tree path: no leading `/`, no `.`, `..` resolved.
fn normalize(path: &Path) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(p) => parts.push(
                p.to_str()
                    .with_context(|| format!("{} is not UTF-8", path.display()))?
                    .to_owned(),
            ),
            Component::Prefix(_) => bail!("unexpected path {}", path.display()),
        }
    }
    Ok(parts.join("/"))
}

/// Regular files keep "executable or not"; every other bit is fixed, so the host's umask and the
/// way the packages were extracted do not matter.
fn file_mode(meta: &fs::Metadata) -> u32 {
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

/// Copies `path` (a tree path) from the extracted packages under `root` into `tree`, following
/// symbolic links inside `root` (each link is kept as a link, and its target copied too). Returns
/// the tree path of the regular file it ends at.
fn copy_resolved(tree: &mut Tree, root: &Path, path: &str) -> Result<String> {
    let mut path = path.to_owned();
    for _ in 0..40 {
        let host = root.join(&path);
        let meta = fs::symlink_metadata(&host)
            .with_context(|| format!("/{path} is in none of the extracted packages"))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&host)?;
            let target_str = target
                .to_str()
                .with_context(|| format!("/{path}: link target is not UTF-8"))?
                .to_owned();
            tree.symlink(&path, &target_str);
            let parent = Path::new(&path).parent().unwrap_or(Path::new(""));
            path = if target.is_absolute() {
                normalize(&target)?
            } else {
                normalize(&parent.join(&target))?
            };
            continue;
        }
        if !meta.is_file() {
            bail!("/{path} is not a regular file");
        }
        let data = fs::read(&host).with_context(|| format!("reading {}", host.display()))?;
        tree.file(&path, data, file_mode(&meta));
        return Ok(path);
    }
    bail!("/{path}: too many levels of symbolic links")
}

/// The library directories of the extracted ld.so configuration (`etc/ld.so.conf.d/*.conf`, in
/// name order), then `/lib` and `/usr/lib`.
fn library_dirs(root: &Path) -> Result<(Vec<String>, Vec<PathBuf>)> {
    let mut confs: Vec<PathBuf> = match fs::read_dir(root.join("etc/ld.so.conf.d")) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect(),
        Err(_) => Vec::new(),
    };
    confs.sort();
    let mut dirs = Vec::new();
    for conf in &confs {
        for line in fs::read_to_string(conf)?.lines() {
            let line = line.trim();
            if line.starts_with('/') {
                dirs.push(normalize(Path::new(line))?);
            }
        }
    }
    dirs.extend(["lib".to_owned(), "usr/lib".to_owned()]);
    Ok((dirs, confs))
}

/// What [`assemble`] put in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// The program interpreter (tree path).
    pub interpreter: String,
    /// The shared libraries, by soname, with the tree path of the file each resolves to.
    pub libraries: BTreeMap<String, String>,
    /// How many certificates the CA bundle holds.
    pub certificates: usize,
}

/// The root filesystem for `binary`, taking everything else from the Debian packages extracted
/// (`dpkg -x`) under `root`.
pub fn assemble(binary: &[u8], root: &Path) -> Result<(Tree, Contents)> {
    let mut tree = Tree::default();
    let mut contents = Contents::default();
    let dynamic = elf::parse(binary).context("reading the sealift binary")?;
    tree.file(BINARY, binary.to_vec(), 0o755);

    // The loader, then the closure of the needed libraries (breadth first, each once).
    let interp = dynamic
        .interpreter
        .as_deref()
        .context("the sealift binary has no program interpreter (a static binary?)")?;
    contents.interpreter = normalize(Path::new(interp))?;
    copy_resolved(&mut tree, root, &contents.interpreter)?;
    let (dirs, confs) = library_dirs(root)?;
    let mut queue: VecDeque<(String, String)> = dynamic
        .needed
        .iter()
        .map(|n| (n.clone(), "sealift".to_owned()))
        .collect();
    let mut seen = BTreeSet::new();
    while let Some((soname, by)) = queue.pop_front() {
        if !seen.insert(soname.clone()) {
            continue;
        }
        let Some(dir) = dirs
            .iter()
            .find(|d| fs::symlink_metadata(root.join(d).join(&soname)).is_ok())
        else {
            bail!(
                "{soname} (needed by {by}) is in none of the packages' library directories \
                 ({}): add its Debian package to scripts/build-image.sh",
                dirs.join(", ")
            );
        };
        let file = copy_resolved(&mut tree, root, &format!("{dir}/{soname}"))?;
        let lib = fs::read(root.join(&file))?;
        for n in elf::parse(&lib)
            .with_context(|| format!("reading /{file}"))?
            .needed
        {
            queue.push_back((n, soname.clone()));
        }
        contents.libraries.insert(soname, file);
    }

    // How the loader finds them: Debian's multiarch configuration, as libc6 ships it.
    tree.file(
        "etc/ld.so.conf",
        b"include /etc/ld.so.conf.d/*.conf\n".to_vec(),
        0o644,
    );
    for conf in &confs {
        let rel = conf.strip_prefix(root)?;
        copy_resolved(&mut tree, root, &normalize(rel)?)?;
    }

    // The CA bundle, as update-ca-certificates (ca-certificates' postinst) would write it: every
    // certificate under /usr/share/ca-certificates in path order, each ending in a newline.
    let mut certs = Vec::new();
    collect_crts(&root.join("usr/share/ca-certificates"), &mut certs)?;
    certs.sort();
    if certs.is_empty() {
        bail!("no certificates under usr/share/ca-certificates: is ca-certificates extracted?");
    }
    let mut bundle = Vec::new();
    for c in &certs {
        let mut pem = fs::read(c)?;
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        bundle.extend_from_slice(&pem);
    }
    contents.certificates = certs.len();
    tree.file(CA_BUNDLE, bundle, 0o644);
    // OpenSSL's default locations on Debian (OPENSSLDIR /usr/lib/ssl, links the openssl package
    // would ship): libgit2 finds the bundle there without SSL_CERT_FILE.
    tree.symlink("usr/lib/ssl/cert.pem", &format!("/{CA_BUNDLE}"));
    tree.symlink("usr/lib/ssl/certs", "/etc/ssl/certs");

    // Users: root, nobody and nonroot (65532), as distroless has them.
    tree.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/sbin/nologin\n\
          nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
          nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
            .to_vec(),
        0o644,
    );
    tree.file(
        "etc/group",
        b"root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n".to_vec(),
        0o644,
    );
    tree.file(
        "etc/nsswitch.conf",
        b"passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\n\
          protocols: files\nservices: files\n"
            .to_vec(),
        0o644,
    );
    tree.dir("home/nonroot", 0o700, NONROOT);
    tree.dir("tmp", 0o1777, 0);
    Ok((tree, contents))
}

fn collect_crts(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd {
        let path = e?.path();
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            collect_crts(&path, out)?;
        } else if meta.is_file() && path.extension().is_some_and(|x| x == "crt") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_root_owned_directories_and_order_is_bytewise() {
        let mut t = Tree::default();
        t.file("usr/bin/sealift", b"x".to_vec(), 0o755);
        t.file("etc/ssl-x", b"y".to_vec(), 0o644);
        t.dir("etc/ssl/certs", 0o755, 0);
        let paths: Vec<&String> = t.entries().keys().collect();
        assert_eq!(
            paths,
            [
                "etc",
                "etc/ssl",
                "etc/ssl-x",
                "etc/ssl/certs",
                "usr",
                "usr/bin",
                "usr/bin/sealift"
            ]
        );
        assert_eq!(t.entries()["usr"].kind, Kind::Dir);
        assert_eq!(t.entries()["usr"].mode, 0o755);
    }

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(Path::new("/lib64/../lib/./x/libz.so")).unwrap(),
            "lib/x/libz.so"
        );
    }

    #[test]
    fn links_are_kept_and_followed_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let lib = root.path().join("lib/x86_64-linux-gnu");
        fs::create_dir_all(&lib).unwrap();
        fs::create_dir_all(root.path().join("lib64")).unwrap();
        fs::write(lib.join("libz.so.1.2.13"), b"z").unwrap();
        std::os::unix::fs::symlink("libz.so.1.2.13", lib.join("libz.so.1")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/libz.so.1",
            root.path().join("lib64/libz.so"),
        )
        .unwrap();
        let mut t = Tree::default();
        let end = copy_resolved(&mut t, root.path(), "lib64/libz.so").unwrap();
        assert_eq!(end, "lib/x86_64-linux-gnu/libz.so.1.2.13");
        assert_eq!(
            t.entries()["lib64/libz.so"].kind,
            Kind::Symlink("/lib/x86_64-linux-gnu/libz.so.1".into())
        );
        assert_eq!(
            t.entries()["lib/x86_64-linux-gnu/libz.so.1"].kind,
            Kind::Symlink("libz.so.1.2.13".into())
        );
        assert_eq!(t.entries()[&end].mode, 0o644);
    }
}
