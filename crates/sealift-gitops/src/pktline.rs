//! git's pkt-line framing and the two receive-pack messages a push reads: the ref advertisement
//! and the `report-status` answer, optionally multiplexed with `side-band-64k`.
//!
//! References: gitprotocol-common(5) (pkt-line), gitprotocol-pack(5) ("Reference Discovery",
//! "Pushing Data To a Server", "Report Status"), gitprotocol-http(5) ("Smart Clients").

use git2::Oid;
use std::fmt;

/// The longest payload one pkt-line can carry (65520 bytes minus the 4-byte length).
const MAX_PAYLOAD: usize = 65516;

/// A message that does not follow the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(msg: impl Into<String>) -> ProtocolError {
    ProtocolError(msg.into())
}

/// Appends one pkt-line carrying `payload`.
pub(crate) fn write_pkt(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), ProtocolError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(bad(format!("pkt-line payload of {} bytes", payload.len())));
    }
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends a flush-pkt.
pub(crate) fn write_flush(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0000");
}

/// One packet of a pkt-line stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pkt<'a> {
    /// `0000`.
    Flush,
    /// A data packet (payload without the length prefix).
    Data(&'a [u8]),
}

/// Reads pkt-lines from a buffer.
pub(crate) struct PktReader<'a> {
    buf: &'a [u8],
}

impl<'a> PktReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        PktReader { buf }
    }

    /// The next packet; `None` at the end of the buffer.
    pub(crate) fn next_pkt(&mut self) -> Result<Option<Pkt<'a>>, ProtocolError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let (head, rest) = self
            .buf
            .split_at_checked(4)
            .ok_or_else(|| bad("truncated pkt-line length"))?;
        let len = std::str::from_utf8(head)
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad(format!("invalid pkt-line length {:?}", lossy(head))))?;
        match len {
            0 => {
                self.buf = rest;
                Ok(Some(Pkt::Flush))
            }
            1..=3 => Err(bad(format!(
                "unexpected special packet {len:04x} (protocol v2 is not used for push)"
            ))),
            n => {
                let (payload, rest) = rest
                    .split_at_checked(n - 4)
                    .ok_or_else(|| bad("truncated pkt-line"))?;
                self.buf = rest;
                Ok(Some(Pkt::Data(payload)))
            }
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn strip_lf(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n").unwrap_or(b)
}

fn parse_oid(hex: &[u8]) -> Result<Oid, ProtocolError> {
    // SHA-1 only: a SHA-256 repository announces `object-format=sha256` and is handled by the
    // caller before any object id of it is needed.
    if hex.len() != 40 {
        return Err(bad(format!("invalid object id {:?}", lossy(hex))));
    }
    std::str::from_utf8(hex)
        .ok()
        .and_then(|h| Oid::from_str(h).ok())
        .ok_or_else(|| bad(format!("invalid object id {:?}", lossy(hex))))
}

/// The refs and capabilities `git-receive-pack` advertises.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Advertisement {
    refs: Vec<(String, Oid)>,
    capabilities: Vec<String>,
}

impl Advertisement {
    /// Parses the body of `GET …/info/refs?service=git-receive-pack`: an optional
    /// `# service=git-receive-pack` packet and flush, then one packet per ref (the first carries
    /// the capabilities after a NUL; an empty repository sends `capabilities^{}` with a zero id),
    /// then a flush.
    pub(crate) fn parse(body: &[u8]) -> Result<Advertisement, ProtocolError> {
        let mut reader = PktReader::new(body);
        let mut adv = Advertisement::default();
        let mut first = true;
        loop {
            let line = match reader.next_pkt()? {
                None => return Err(bad("the ref advertisement ended without a flush-pkt")),
                Some(Pkt::Flush) if first => continue,
                Some(Pkt::Flush) => return Ok(adv),
                Some(Pkt::Data(d)) => strip_lf(d),
            };
            if first && line.starts_with(b"# service=") {
                if line != b"# service=git-receive-pack" {
                    return Err(bad(format!("unexpected service line {:?}", lossy(line))));
                }
                // The flush-pkt that follows the service line is skipped by `first`.
                continue;
            }
            if let Some(msg) = line.strip_prefix(b"ERR ") {
                return Err(bad(format!("the server said: {}", lossy(msg))));
            }
            let (line, caps) = match line.iter().position(|b| *b == 0) {
                Some(i) => (&line[..i], Some(&line[i + 1..])),
                None => (line, None),
            };
            if let Some(caps) = caps {
                if !first {
                    return Err(bad("capabilities after the first ref"));
                }
                adv.capabilities = lossy(caps).split(' ').map(str::to_owned).collect();
                adv.capabilities.retain(|c| !c.is_empty());
                if let Some(format) = adv.capability_value("object-format")
                    && format != "sha1"
                {
                    // Nothing more can be parsed with 20-byte ids; the caller falls back.
                    return Ok(adv);
                }
            }
            first = false;
            let (oid, name) = match line.iter().position(|b| *b == b' ') {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => return Err(bad(format!("invalid ref line {:?}", lossy(line)))),
            };
            let oid = parse_oid(oid)?;
            if name == b"capabilities^{}" {
                continue;
            }
            let name = String::from_utf8(name.to_vec())
                .map_err(|_| bad(format!("ref name {:?} is not UTF-8", lossy(name))))?;
            adv.refs.push((name, oid));
        }
    }

    /// The id `refname` points at on the server, if it exists.
    pub(crate) fn target(&self, refname: &str) -> Option<Oid> {
        self.refs
            .iter()
            .find_map(|(name, oid)| (name == refname).then_some(*oid))
    }

    /// True when the server offers the capability `name` (with or without a value).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c == name || c.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
    }

    /// The value of a `name=value` capability.
    pub(crate) fn capability_value(&self, name: &str) -> Option<&str> {
        self.capabilities
            .iter()
            .find_map(|c| c.strip_prefix(name)?.strip_prefix('='))
    }
}

/// The server's verdict on a push (`report-status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// `Ok` for `unpack ok`, else the server's reason.
    pub(crate) unpack: Result<(), String>,
    /// One entry per `ok <ref>` / `ng <ref> <reason>`.
    pub(crate) refs: Vec<(String, Result<(), String>)>,
    /// What the server printed on the progress channel (hook output), when side-band was used.
    pub(crate) messages: String,
}

impl Report {
    /// The verdict for `refname`, if the server gave one.
    pub(crate) fn status(&self, refname: &str) -> Option<&Result<(), String>> {
        self.refs
            .iter()
            .find_map(|(name, status)| (name == refname).then_some(status))
    }
}

/// Parses the body of `POST …/git-receive-pack`. With `sideband`, packets are demultiplexed first:
/// band 1 carries the report, band 2 progress and hook messages, band 3 a fatal error.
pub(crate) fn parse_report(body: &[u8], sideband: bool) -> Result<Report, ProtocolError> {
    let mut messages = String::new();
    let demuxed;
    let report_bytes = if sideband {
        let mut data = Vec::new();
        let mut reader = PktReader::new(body);
        loop {
            match reader.next_pkt()? {
                None | Some(Pkt::Flush) => break,
                Some(Pkt::Data(d)) => match d.split_first() {
                    Some((1, payload)) => data.extend_from_slice(payload),
                    Some((2, payload)) => messages.push_str(&String::from_utf8_lossy(payload)),
                    Some((3, payload)) => {
                        return Err(bad(format!(
                            "the server failed: {}",
                            lossy(strip_lf(payload))
                        )));
                    }
                    _ => return Err(bad("invalid side-band packet")),
                },
            }
        }
        demuxed = data;
        demuxed.as_slice()
    } else {
        body
    };
    let mut reader = PktReader::new(report_bytes);
    let mut report = Report {
        unpack: Err("the server sent no unpack status".into()),
        refs: Vec::new(),
        messages,
    };
    let mut seen_unpack = false;
    while let Some(pkt) = reader.next_pkt()? {
        let line = match pkt {
            Pkt::Flush => break,
            Pkt::Data(d) => lossy(strip_lf(d)),
        };
        if let Some(status) = line.strip_prefix("unpack ") {
            seen_unpack = true;
            report.unpack = if status == "ok" {
                Ok(())
            } else {
                Err(status.to_owned())
            };
        } else if let Some(name) = line.strip_prefix("ok ") {
            report.refs.push((name.to_owned(), Ok(())));
        } else if let Some(rest) = line.strip_prefix("ng ") {
            let (name, reason) = rest.split_once(' ').unwrap_or((rest, "rejected"));
            report.refs.push((name.to_owned(), Err(reason.to_owned())));
        } else if let Some(msg) = line.strip_prefix("ERR ") {
            return Err(bad(format!("the server said: {msg}")));
        }
        // Anything else (`option …` of report-status-v2) is not asked for and is ignored.
    }
    if !seen_unpack && report.refs.is_empty() {
        return Err(bad("the server sent no report-status"));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkts(lines: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            if l.is_empty() {
                write_flush(&mut out);
            } else {
                write_pkt(&mut out, l).unwrap();
            }
        }
        out
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn pkt_lines_round_trip_with_hex_lengths_and_flushes() {
        let mut out = Vec::new();
        write_pkt(&mut out, b"hello\n").unwrap();
        write_flush(&mut out);
        assert_eq!(out, b"000ahello\n0000");
        let mut r = PktReader::new(&out);
        assert_eq!(r.next_pkt().unwrap(), Some(Pkt::Data(b"hello\n")));
        assert_eq!(r.next_pkt().unwrap(), Some(Pkt::Flush));
        assert_eq!(r.next_pkt().unwrap(), None);
        assert!(write_pkt(&mut out, &vec![0; MAX_PAYLOAD + 1]).is_err());
    }

    #[test]
    fn truncated_or_garbled_pkt_lines_are_errors_not_panics() {
        for bad in [&b"00"[..], b"zzzz", b"0010abc", b"0002"] {
            assert!(PktReader::new(bad).next_pkt().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_advertisement_yields_refs_and_capabilities() {
        let first = format!(
            "{A} refs/heads/main\0report-status delete-refs side-band-64k quiet ofs-delta agent=git/2.39.5 object-format=sha1\n"
        );
        let second = format!("{B} refs/heads/sealift/ns/p\n");
        let body = pkts(&[
            b"# service=git-receive-pack\n",
            b"",
            first.as_bytes(),
            second.as_bytes(),
            b"",
        ]);
        let adv = Advertisement::parse(&body).unwrap();
        assert_eq!(
            adv.target("refs/heads/main"),
            Some(Oid::from_str(A).unwrap())
        );
        assert_eq!(
            adv.target("refs/heads/sealift/ns/p"),
            Some(Oid::from_str(B).unwrap())
        );
        assert_eq!(adv.target("refs/heads/other"), None);
        assert!(adv.has("report-status") && adv.has("ofs-delta") && adv.has("agent"));
        assert!(!adv.has("atomic") && !adv.has("report"));
        assert_eq!(adv.capability_value("object-format"), Some("sha1"));
    }

    #[test]
    fn an_empty_repository_advertises_capabilities_only() {
        let zero = "0".repeat(40);
        let line = format!("{zero} capabilities^{{}}\0report-status ofs-delta\n");
        let body = pkts(&[b"# service=git-receive-pack\n", b"", line.as_bytes(), b""]);
        let adv = Advertisement::parse(&body).unwrap();
        assert_eq!(adv.target("refs/heads/main"), None);
        assert!(adv.has("report-status"));
    }

    #[test]
    fn a_sha256_repository_is_recognised_before_its_ids_are_parsed() {
        let line = format!(
            "{} refs/heads/main\0report-status object-format=sha256\n",
            "a".repeat(64)
        );
        let adv = Advertisement::parse(&pkts(&[line.as_bytes(), b""])).unwrap();
        assert_eq!(adv.capability_value("object-format"), Some("sha256"));
    }

    #[test]
    fn advertisement_errors_are_reported() {
        assert!(Advertisement::parse(&pkts(&[b"ERR access denied\n", b""])).is_err());
        assert!(Advertisement::parse(&pkts(&[b"# service=git-upload-pack\n", b""])).is_err());
        let no_flush = format!("{A} refs/heads/main\0report-status\n");
        assert!(Advertisement::parse(&pkts(&[no_flush.as_bytes()])).is_err());
    }

    #[test]
    fn report_status_gives_the_unpack_and_per_ref_verdicts() {
        let body = pkts(&[
            b"unpack ok\n",
            b"ok refs/heads/a\n",
            b"ng refs/heads/main stale info\n",
            b"",
        ]);
        let r = parse_report(&body, false).unwrap();
        assert_eq!(r.unpack, Ok(()));
        assert_eq!(r.status("refs/heads/a"), Some(&Ok(())));
        assert_eq!(
            r.status("refs/heads/main"),
            Some(&Err("stale info".to_owned()))
        );
        assert_eq!(r.status("refs/heads/b"), None);
    }

    #[test]
    fn side_band_reports_are_demultiplexed_and_hook_messages_kept() {
        let inner = pkts(&[
            b"unpack ok\n",
            b"ng refs/heads/main pre-receive hook declined\n",
            b"",
        ]);
        let mut band1 = vec![1u8];
        band1.extend_from_slice(&inner);
        let body = pkts(&[b"\x02main is protected\n", &band1, b""]);
        let r = parse_report(&body, true).unwrap();
        assert_eq!(
            r.status("refs/heads/main"),
            Some(&Err("pre-receive hook declined".to_owned()))
        );
        assert_eq!(r.messages, "main is protected\n");
        let fatal = pkts(&[b"\x03disk full\n", b""]);
        assert!(
            parse_report(&fatal, true)
                .unwrap_err()
                .0
                .contains("disk full")
        );
    }

    #[test]
    fn a_failed_unpack_is_reported() {
        let body = pkts(&[
            b"unpack index-pack abnormal exit\n",
            b"ng refs/heads/a unpacker error\n",
            b"",
        ]);
        let r = parse_report(&body, false).unwrap();
        assert_eq!(r.unpack, Err("index-pack abnormal exit".to_owned()));
        assert!(parse_report(&pkts(&[b""]), false).is_err());
    }
}
