//! Helpers shared by the kustomize test files.

/// One hunk of a line diff: original lines removed (1-based) and how many lines were added.
#[derive(Debug)]
pub struct Hunk {
    pub removed: Vec<usize>,
    pub added: usize,
    /// The original line the hunk starts at (1-based; `len + 1` at the end).
    pub at: usize,
}

/// A minimal line diff (longest common subsequence); lines keep their line breaks, so a line
/// that gains or loses one, or changes `\r\n`, counts as changed.
pub fn line_diff(before: &str, after: &str) -> Vec<Hunk> {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut hunks: Vec<Hunk> = Vec::new();
    let mut open: Option<Hunk> = None;
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            hunks.extend(open.take());
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            open.get_or_insert(Hunk {
                removed: vec![],
                added: 0,
                at: i + 1,
            })
            .added += 1;
            j += 1;
        } else {
            open.get_or_insert(Hunk {
                removed: vec![],
                added: 0,
                at: i + 1,
            })
            .removed
            .push(i + 1);
            i += 1;
        }
    }
    hunks.extend(open);
    hunks
}
