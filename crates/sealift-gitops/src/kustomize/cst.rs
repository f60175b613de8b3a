//! Where things are: a lossless parse (yaml-edit's rowan CST) reduced to the byte offsets the
//! editor needs — the root mapping, the `images` entry, its items and their fields.
//!
//! Only significant tokens count: comments, white space and line breaks are trivia whose
//! placement in the CST does not matter, because the editor works from the offsets of keys,
//! values, dashes and brackets and finds line boundaries in the text itself.

use super::scalar::{Style, decode};
use rowan::NodeOrToken;
use rowan::ast::AstNode;
use yaml_edit::{Lang, SyntaxKind as K, YamlFile};

type SyntaxNode = rowan::SyntaxNode<Lang>;
type SyntaxToken = rowan::SyntaxToken<Lang>;

/// A node: where its text is and what it is.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// Start of the node including its properties (anchor, tag).
    pub start: usize,
    /// Start of the node's content (after its properties).
    pub content_start: usize,
    /// End of the node's last significant token.
    pub end: usize,
    /// Anchor names and tags written on the node itself.
    pub props: Vec<String>,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Alias,
    Mapping(Mapping),
    Sequence(Sequence),
}

#[derive(Clone, Debug)]
pub(crate) struct Scalar {
    pub style: Style,
    /// The decoded value when the scalar is on one line and decodable.
    pub value: Option<String>,
    /// True for an explicit null written as a plain scalar (`~`, `null`, …).
    pub is_null: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    pub flow: bool,
    pub entries: Vec<Entry>,
    /// Offset of `{` for flow mappings.
    pub open: Option<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: Option<Node>,
    /// The key decoded, when it is a one-line scalar.
    pub key_text: Option<String>,
    /// End of the `:`.
    pub colon_end: Option<usize>,
    /// The value; `None` when empty (null by omission).
    pub value: Option<Node>,
    pub start: usize,
    pub end: usize,
    /// An explicit `?` key indicator was used.
    pub explicit_key: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Sequence {
    pub flow: bool,
    pub items: Vec<Item>,
    /// Offset of `[` for flow sequences.
    pub open: Option<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Offset of the `-` of a block sequence item.
    pub dash: Option<usize>,
    /// The content; `None` for an empty item.
    pub node: Option<Node>,
    pub start: usize,
    pub end: usize,
    /// The SEQUENCE_ENTRY node.
    pub syntax: SyntaxNode,
}

/// The located document.
#[derive(Clone, Debug)]
pub(crate) struct Located {
    /// The root content node (`None` for an empty document).
    pub root: Option<Node>,
    /// Offset of a `...` document end marker.
    pub doc_end: Option<usize>,
    /// Names of every alias (`*name`) in the file.
    pub aliases: Vec<String>,
}

/// Locates the document. Fails (with a reason) when the CST has parse errors, is not lossless,
/// holds several documents or has a shape this locator does not understand.
pub(crate) fn locate(text: &str) -> Result<Located, String> {
    let parsed = YamlFile::parse(text);
    if !parsed.positioned_errors().is_empty()
        && let Some(first) = parsed.errors().first()
    {
        return Err(format!("the lossless YAML parser reports {first}"));
    }
    // yaml-edit hands out a *mutable* rowan tree. There every live node is kept in its parent's
    // sorted list of live children (found by a linear walk when a node is created) and every
    // offset is recomputed by walking up to the root; with the located items alive while the
    // `images` entry is walked again, that made locating quadratic in the number of entries.
    // The locator only reads, so it walks an immutable tree over the same green nodes: offsets
    // are stored, nothing is linked.
    let root = SyntaxNode::new_root(parsed.tree().syntax().green().into_owned());
    if root.text() != text {
        return Err("the lossless YAML parser did not reproduce the text".into());
    }
    let documents: Vec<SyntaxNode> = root
        .children()
        .filter(|n| n.kind() == K::DOCUMENT)
        .collect();
    let mut aliases = Vec::new();
    for token in root
        .descendants_with_tokens()
        .filter_map(NodeOrToken::into_token)
    {
        if token.kind() == K::REFERENCE {
            aliases.push(token.text().trim_start_matches('*').to_owned());
        }
    }
    match documents.as_slice() {
        [] => Ok(Located {
            root: None,
            doc_end: None,
            aliases,
        }),
        [document] => {
            let doc_end = document
                .children_with_tokens()
                .filter_map(NodeOrToken::into_token)
                .find(|t| t.kind() == K::DOC_END)
                .map(|t| offset(t.text_range().start()));
            Ok(Located {
                root: content(document)?,
                doc_end,
                aliases,
            })
        }
        _ => Err("the file holds several documents".into()),
    }
}

fn offset(size: rowan::TextSize) -> usize {
    u32::from(size) as usize
}

fn is_trivia(kind: K) -> bool {
    matches!(
        kind,
        K::WHITESPACE | K::NEWLINE | K::INDENT | K::COMMENT | K::BOM | K::EOF
    )
}

fn is_content(kind: K) -> bool {
    matches!(
        kind,
        K::SCALAR | K::MAPPING | K::SEQUENCE | K::ALIAS | K::TAGGED_NODE
    )
}

fn is_significant(token: &SyntaxToken) -> bool {
    !is_trivia(token.kind()) && !token.text().is_empty()
}

/// First and last significant token offsets below `node`. Walks in from both ends rather than
/// over the whole subtree: `content` asks this of every enclosing node (the root mapping, the
/// `images` entry, the list), so a full walk each time would cross the list several times.
fn significant_range(node: &SyntaxNode) -> Option<(usize, usize)> {
    let first = node
        .descendants_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .find(is_significant)?;
    // `first` is inside `node`, so walking back from its last token stops inside it too.
    let mut last = node.last_token()?;
    while !is_significant(&last) {
        last = last.prev_token()?;
    }
    Some((
        offset(first.text_range().start()),
        offset(last.text_range().end()),
    ))
}

/// The content node held by `parent` (a DOCUMENT, KEY, VALUE, SEQUENCE_ENTRY or TAGGED_NODE),
/// with the anchor and tag tokens written before it.
fn content(parent: &SyntaxNode) -> Result<Option<Node>, String> {
    let mut props: Vec<SyntaxToken> = Vec::new();
    let mut found: Option<SyntaxNode> = None;
    for child in parent.children_with_tokens() {
        match child {
            NodeOrToken::Token(t) if matches!(t.kind(), K::ANCHOR | K::TAG) => props.push(t),
            NodeOrToken::Node(n) if is_content(n.kind()) && found.is_some() => {
                return Err(format!(
                    "a value has more than one content node ({:?})",
                    n.kind()
                ));
            }
            NodeOrToken::Node(n) if is_content(n.kind()) => found = Some(n),
            NodeOrToken::Node(n) if n.kind() == K::ERROR => {
                return Err("the lossless YAML parser recovered from an error".into());
            }
            _ => {}
        }
    }
    let Some(node) = found else {
        return if props.is_empty() {
            Ok(None)
        } else {
            Err("an anchor or tag without a value".into())
        };
    };
    if node.kind() == K::TAGGED_NODE {
        let inner = content(&node)?;
        return Ok(inner.map(|mut inner| {
            let mut all: Vec<String> = props.iter().map(|t| t.text().to_owned()).collect();
            all.append(&mut inner.props);
            inner.props = all;
            inner.start = props
                .first()
                .map_or(offset(node.text_range().start()), |t| {
                    offset(t.text_range().start())
                })
                .min(inner.start);
            inner
        }));
    }
    let Some((content_start, end)) = significant_range(&node) else {
        // A zero-width null: an empty value.
        return if props.is_empty() {
            Ok(None)
        } else {
            Err("an anchor or tag without a value".into())
        };
    };
    let start = props
        .first()
        .map_or(content_start, |t| offset(t.text_range().start()));
    let kind = match node.kind() {
        K::SCALAR => Kind::Scalar(scalar(&node, content_start, end)),
        K::ALIAS => Kind::Alias,
        K::MAPPING => Kind::Mapping(mapping(&node)?),
        K::SEQUENCE => Kind::Sequence(sequence(&node)?),
        _ => return Err("an unexpected node".into()),
    };
    Ok(Some(Node {
        start,
        content_start,
        end,
        props: props.iter().map(|t| t.text().to_owned()).collect(),
        kind,
    }))
}

fn scalar(node: &SyntaxNode, start: usize, end: usize) -> Scalar {
    let text = node.text().to_string();
    let node_start = offset(node.text_range().start());
    let raw = text
        .get(start.saturating_sub(node_start)..end.saturating_sub(node_start))
        .unwrap_or("");
    let style = Style::of_raw(raw);
    let is_null = style == Style::Plain && matches!(raw, "~" | "null" | "Null" | "NULL");
    Scalar {
        style,
        value: if is_null { None } else { decode(raw) },
        is_null,
    }
}

fn mapping(node: &SyntaxNode) -> Result<Mapping, String> {
    let mut entries = Vec::new();
    let mut open = None;
    for child in node.children_with_tokens() {
        match child {
            NodeOrToken::Token(t) if t.kind() == K::LEFT_BRACE => {
                open = Some(offset(t.text_range().start()));
            }
            NodeOrToken::Node(n) if n.kind() == K::MAPPING_ENTRY => entries.push(entry(&n)?),
            NodeOrToken::Node(n) if n.kind() == K::ERROR => {
                return Err("the lossless YAML parser recovered from an error".into());
            }
            NodeOrToken::Token(t)
                if is_trivia(t.kind()) || matches!(t.kind(), K::COMMA | K::RIGHT_BRACE) => {}
            other => {
                return Err(format!("an unexpected {:?} in a mapping", other.kind()));
            }
        }
    }
    // Located entries are large and most mappings hold 2 or 3: no growth slack per item.
    entries.shrink_to_fit();
    Ok(Mapping {
        flow: open.is_some(),
        entries,
        open,
    })
}

fn entry(node: &SyntaxNode) -> Result<Entry, String> {
    let mut key = None;
    let mut value = None;
    let mut colon_end = None;
    let mut explicit_key = false;
    for child in node.children_with_tokens() {
        match child {
            NodeOrToken::Node(n) if n.kind() == K::KEY => key = content(&n)?,
            NodeOrToken::Node(n) if n.kind() == K::VALUE => value = content(&n)?,
            NodeOrToken::Token(t) if t.kind() == K::COLON => {
                colon_end = Some(offset(t.text_range().end()));
            }
            NodeOrToken::Token(t) if t.kind() == K::QUESTION => explicit_key = true,
            _ => {}
        }
    }
    let key_text = key.as_ref().and_then(|k| match &k.kind {
        Kind::Scalar(s) if k.props.is_empty() => s.value.clone(),
        _ => None,
    });
    let (start, end) = significant_range(node).unwrap_or_default();
    let end = value
        .as_ref()
        .map(|v| v.end)
        .or(colon_end)
        .unwrap_or(end)
        .max(key.as_ref().map_or(0, |k| k.end));
    Ok(Entry {
        key,
        key_text,
        colon_end,
        value,
        start,
        end,
        explicit_key,
    })
}

fn sequence(node: &SyntaxNode) -> Result<Sequence, String> {
    let mut items = Vec::new();
    let mut open = None;
    for child in node.children_with_tokens() {
        match child {
            NodeOrToken::Token(t) if t.kind() == K::LEFT_BRACKET => {
                open = Some(offset(t.text_range().start()));
            }
            NodeOrToken::Node(n) if n.kind() == K::SEQUENCE_ENTRY => items.push(item(n)?),
            NodeOrToken::Node(n) if n.kind() == K::ERROR => {
                return Err("the lossless YAML parser recovered from an error".into());
            }
            NodeOrToken::Token(t)
                if is_trivia(t.kind()) || matches!(t.kind(), K::COMMA | K::RIGHT_BRACKET) => {}
            other => {
                return Err(format!("an unexpected {:?} in a sequence", other.kind()));
            }
        }
    }
    items.shrink_to_fit();
    Ok(Sequence {
        flow: open.is_some(),
        items,
        open,
    })
}

fn item(syntax: SyntaxNode) -> Result<Item, String> {
    let dash = syntax
        .children_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .find(|t| t.kind() == K::DASH)
        .map(|t| offset(t.text_range().start()));
    let node = content(&syntax)?;
    let start = dash.or(node.as_ref().map(|n| n.start)).unwrap_or_default();
    let end = node
        .as_ref()
        .map(|n| n.end)
        .or(dash.map(|d| d + 1))
        .unwrap_or(start);
    Ok(Item {
        dash,
        node,
        start,
        end,
        syntax,
    })
}

/// Anchors, aliases, tags and merge keys anywhere in `node` (they make an edit reach further
/// than the text it changes), described for an error message.
pub(crate) fn indirections(node: &SyntaxNode) -> Vec<String> {
    node.descendants_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .filter_map(|t| match t.kind() {
            K::ANCHOR => Some(format!("anchor `{}`", t.text())),
            K::REFERENCE => Some(format!("alias `{}`", t.text())),
            K::TAG => Some(format!("tag `{}`", t.text())),
            K::MERGE_KEY => Some("merge key `<<`".to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_mapping(text: &str) -> Mapping {
        match locate(text).unwrap().root.unwrap().kind {
            Kind::Mapping(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_items_and_fields_are_located_by_byte_offsets() {
        let text = "# c\nimages:\n  - name: \"app\" # n\n    newTag: v1\n";
        let root = root_mapping(text);
        let images = &root.entries[0];
        assert_eq!(images.key_text.as_deref(), Some("images"));
        let Some(Node {
            kind: Kind::Sequence(seq),
            ..
        }) = &images.value
        else {
            panic!()
        };
        assert!(!seq.flow);
        let item = &seq.items[0];
        assert_eq!(&text[item.dash.unwrap()..item.dash.unwrap() + 1], "-");
        let Some(Node {
            kind: Kind::Mapping(m),
            ..
        }) = &item.node
        else {
            panic!()
        };
        assert_eq!(&text[m.entries[0].start..m.entries[0].end], "name: \"app\"");
        assert_eq!(&text[m.entries[1].start..m.entries[1].end], "newTag: v1");
        let Some(Node {
            kind: Kind::Scalar(s),
            ..
        }) = &m.entries[0].value
        else {
            panic!()
        };
        assert_eq!((s.style, s.value.as_deref()), (Style::Double, Some("app")));
    }

    #[test]
    fn flow_collections_record_their_brackets() {
        let text = "images: [{name: a, digest: x}]\n";
        let root = root_mapping(text);
        let Some(Node {
            kind: Kind::Sequence(seq),
            ..
        }) = &root.entries[0].value
        else {
            panic!()
        };
        assert!(seq.flow);
        assert_eq!(&text[seq.open.unwrap()..], "[{name: a, digest: x}]\n");
        let Some(Node {
            kind: Kind::Mapping(m),
            ..
        }) = &seq.items[0].node
        else {
            panic!()
        };
        assert!(m.flow);
    }

    #[test]
    fn empty_and_explicit_null_values_are_told_apart() {
        let root = root_mapping("a:\nb: ~\nc: # x\n");
        assert!(root.entries[0].value.is_none());
        assert!(matches!(
            &root.entries[1].value,
            Some(Node {
                kind: Kind::Scalar(Scalar { is_null: true, .. }),
                ..
            })
        ));
        assert!(root.entries[2].value.is_none());
    }

    #[test]
    fn anchors_aliases_tags_and_merge_keys_are_reported() {
        let located = locate("a: &x {n: 1}\nb:\n- *x\n- !!map {<<: *x}\n- {n: 2}\n").unwrap();
        assert_eq!(located.aliases, vec!["x", "x"]);
        let Some(Node {
            kind: Kind::Mapping(root),
            ..
        }) = located.root
        else {
            panic!()
        };
        let Some(Node {
            kind: Kind::Sequence(seq),
            ..
        }) = &root.entries[1].value
        else {
            panic!()
        };
        let found: Vec<Vec<String>> = seq.items.iter().map(|i| indirections(&i.syntax)).collect();
        assert_eq!(found[0], vec!["alias `*x`"]);
        assert_eq!(
            found[1],
            vec!["tag `!!map`", "merge key `<<`", "alias `*x`"]
        );
        assert!(found[2].is_empty());
    }
}
