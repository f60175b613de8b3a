//! The two facts about an ELF executable or shared library that decide which files an image needs:
//! its program interpreter (`PT_INTERP`, the dynamic loader) and the shared libraries it names
//! (`DT_NEEDED`). Read straight from the file (64-bit little-endian only, what Debian's amd64 and
//! arm64 ship), so the result does not depend on the host's loader as `ldd` would.

use anyhow::{Context, Result, bail, ensure};

const PT_INTERP: u32 = 3;
const SHT_DYNAMIC: u32 = 6;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

/// What an ELF file asks the dynamic loader for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `e_machine` (62: x86-64, 183: AArch64).
    pub machine: u16,
    /// The program interpreter, e.g. `/lib64/ld-linux-x86-64.so.2`; `None` for a shared library
    /// or a static executable.
    pub interpreter: Option<String>,
    /// The `DT_NEEDED` sonames, in file order.
    pub needed: Vec<String>,
}

fn u16_at(b: &[u8], off: usize) -> Result<u16> {
    let s = off
        .checked_add(2)
        .and_then(|e| b.get(off..e))
        .context("truncated ELF file")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    let s = off
        .checked_add(4)
        .and_then(|e| b.get(off..e))
        .context("truncated ELF file")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64> {
    let s = off
        .checked_add(8)
        .and_then(|e| b.get(off..e))
        .context("truncated ELF file")?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

fn usize_at(b: &[u8], off: usize) -> Result<usize> {
    usize::try_from(u64_at(b, off)?).context("ELF offset out of range")
}

/// `base + index * size (+ extra)` without overflow (garbage input must not panic).
fn offset(base: usize, index: usize, size: usize, extra: usize) -> Result<usize> {
    index
        .checked_mul(size)
        .and_then(|x| x.checked_add(base))
        .and_then(|x| x.checked_add(extra))
        .context("ELF offset out of range")
}

fn c_str(b: &[u8], off: usize) -> Result<String> {
    let rest = b
        .get(off..)
        .context("string offset past the end of the ELF file")?;
    let end = rest
        .iter()
        .position(|c| *c == 0)
        .context("unterminated string in the ELF file")?;
    Ok(String::from_utf8(rest[..end].to_vec())?)
}

/// Parses the interpreter and the needed libraries of the ELF file `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Dynamic> {
    ensure!(bytes.starts_with(b"\x7fELF"), "not an ELF file");
    ensure!(
        bytes.get(4) == Some(&2) && bytes.get(5) == Some(&1),
        "only 64-bit little-endian ELF files are supported"
    );
    let machine = u16_at(bytes, 18)?;
    let phoff = usize_at(bytes, 32)?;
    let shoff = usize_at(bytes, 40)?;
    let phentsize = usize::from(u16_at(bytes, 54)?);
    let phnum = usize::from(u16_at(bytes, 56)?);
    let shentsize = usize::from(u16_at(bytes, 58)?);
    let shnum = usize::from(u16_at(bytes, 60)?);

    let mut interpreter = None;
    for i in 0..phnum {
        let ph = offset(phoff, i, phentsize, 0)?;
        if u32_at(bytes, ph)? == PT_INTERP {
            interpreter = Some(c_str(bytes, usize_at(bytes, offset(ph, 0, 0, 8)?)?)?);
        }
    }

    let mut needed = Vec::new();
    for i in 0..shnum {
        let sh = offset(shoff, i, shentsize, 0)?;
        if u32_at(bytes, offset(sh, 0, 0, 4)?)? != SHT_DYNAMIC {
            continue;
        }
        let start = usize_at(bytes, offset(sh, 0, 0, 24)?)?;
        let size = usize_at(bytes, offset(sh, 0, 0, 32)?)?;
        let link = usize::try_from(u32_at(bytes, offset(sh, 0, 0, 40)?)?)?;
        let entsize = usize_at(bytes, offset(sh, 0, 0, 56)?)?.max(16);
        if link >= shnum {
            bail!("the dynamic section links to a missing string table");
        }
        let strtab = usize_at(bytes, offset(shoff, link, shentsize, 24)?)?;
        let end = offset(start, 0, 0, size)?;
        for e in (start..end).step_by(entsize) {
            match u64_at(bytes, e)? {
                DT_NULL => break,
                DT_NEEDED => {
                    let name = usize_at(bytes, offset(e, 0, 0, 8)?)?;
                    needed.push(c_str(bytes, offset(strtab, 0, 0, name)?)?);
                }
                _ => {}
            }
        }
    }
    Ok(Dynamic {
        machine,
        interpreter,
        needed,
    })
}

/// The OCI architecture name of an ELF `e_machine`.
pub fn oci_architecture(machine: u16) -> Result<&'static str> {
    match machine {
        62 => Ok("amd64"),
        183 => Ok("arm64"),
        m => bail!("unsupported ELF machine {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_names_the_loader_and_libc() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let d = parse(&me).unwrap();
        assert!(
            d.interpreter.as_deref().unwrap().contains("ld-linux"),
            "{d:?}"
        );
        assert!(d.needed.iter().any(|n| n == "libc.so.6"), "{d:?}");
        assert!(oci_architecture(d.machine).is_ok());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\x7fELF\x02\x01").is_err());
        let mut fake = b"\x7fELF\x02\x01".to_vec();
        fake.resize(64, 0xff);
        assert!(parse(&fake).is_err());
    }
}
