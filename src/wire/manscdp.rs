//! MANSCDP (GB/T 28181-2016 §A.2): the XML bodies of SIP `MESSAGE` requests (keepalive,
//! catalog, device information), and the queries we send.
//!
//! Pure code: bytes in, [`Message`] out; no I/O. The XML is read by a small tokenizer of our own
//! (elements, text, CDATA, comments, processing instructions, entity references) that does
//! not build a tree: [`parse`] walks the tokens once and keeps the fields it knows.
//!
//! # Encoding
//! Devices usually declare `encoding="GB2312"` (sometimes GBK or UTF-8) and send device names
//! in it. The markup is ASCII, and no GB2312/GBK byte is below 0x40, so the tokenizer works on
//! bytes whatever the encoding; every text value is then turned into a `String` with
//! [`String::from_utf8_lossy`]: UTF-8 text comes through; GB2312 text becomes mostly U+FFFD
//! replacement characters (a GB2312 byte pair that happens to be valid UTF-8 becomes an
//! unrelated character), and parsing never fails on it. Ids, numbers and status words are
//! ASCII and come through intact. [`declared_encoding`] tells a caller that wants to transcode
//! names itself which encoding was declared.
//!
//! # Leniency
//! - Element names are compared ASCII-case-insensitively (`DeviceID`, `DeviceId`).
//! - Attributes are skipped (quotes honoured); `<DeviceList Num="n">` is not checked against
//!   the items.
//! - A `&` that does not start a known entity (`&lt; &gt; &amp; &quot; &apos; &#n; &#xh;`) is
//!   kept as text; a character reference to an invalid code point becomes U+FFFD.
//! - `<!DOCTYPE>` is skipped (its entities are not defined, so no expansion bombs); anything
//!   after the root element closes is ignored (some devices pad with NULs).
//! - Values are trimmed of surrounding whitespace. Only an element's own text counts, not that
//!   of its children. When a field repeats, the first one wins.
//! - Missing optional fields are empty strings / 0; `Parental` and `Channel` that are not
//!   numbers are 0; a missing `SumNum` is the number of items.
//!
//! # Errors
//! Body over [`MAX_BODY_LEN`], nesting over [`MAX_DEPTH`], more than [`MAX_ELEMENTS`] elements or
//! [`MAX_CATALOG_ITEMS`] catalog items, unterminated markup, a close tag that does not match, no
//! root element, and a missing `CmdType`, `SN` or `DeviceID` or a non-numeric `SN`/`SumNum`.

use std::fmt::Write as _;

/// Largest body [`parse`] reads. Why: a SIP MESSAGE over UDP is at most 64 KiB anyway; real
/// catalog responses are a few KiB (devices split big catalogs over several messages).
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// Deepest element nesting. Why: MANSCDP nests four levels (`Response/DeviceList/Item/Info`);
/// the limit keeps the open-element stack at 16 entries whatever the peer sends.
pub const MAX_DEPTH: usize = 16;
/// Most elements (start tags) in one body. Why: bounds the work per body; a 256-item catalog
/// has about 3000.
pub const MAX_ELEMENTS: usize = 4096;
/// Most `<Item>`s of one catalog response. Why: each costs six `String`s; with the body limit
/// this caps the result at roughly `512 × 200 B + 3 × MAX_BODY_LEN` ≈ 300 KiB.
pub const MAX_CATALOG_ITEMS: usize = 512;

/// Why a body was refused. Offsets are byte offsets into the body. Each error spoils one
/// MESSAGE: answer it with 400 and keep the registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("MANSCDP body of {len} bytes is longer than {max}", max = MAX_BODY_LEN)]
    TooLarge { len: usize },
    #[error("XML nesting deeper than {max} at offset {offset}", max = MAX_DEPTH)]
    TooDeep { offset: usize },
    #[error("XML has more than {max} elements, at offset {offset}", max = MAX_ELEMENTS)]
    TooManyElements { offset: usize },
    #[error("catalog has more than {max} items, at offset {offset}", max = MAX_CATALOG_ITEMS)]
    TooManyItems { offset: usize },
    /// A tag, comment, CDATA section or processing instruction runs to the end of the body, or
    /// elements are still open there.
    #[error("XML truncated: construct at offset {offset} is not terminated")]
    Truncated { offset: usize },
    /// A close tag that does not match the open element, a close tag with nothing open, or a
    /// tag without a name.
    #[error("XML malformed at offset {offset}")]
    Malformed { offset: usize },
    #[error("XML has no root element")]
    NoRoot,
    #[error("MANSCDP field <{field}> missing")]
    MissingField { field: &'static str },
    #[error("MANSCDP field <{field}> is not a number")]
    BadNumber { field: &'static str },
}

/// One MANSCDP message (GB/T 28181-2016 §A.2: `Query`, `Notify`, `Response`).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `<Notify>` `Keepalive`: `status` is `OK` when the device is fine.
    Keepalive {
        sn: u32,
        device_id: String,
        status: String,
    },
    /// `<Query>` `Catalog`.
    CatalogQuery { sn: u32, device_id: String },
    /// `<Response>` `Catalog`: `sum` is the size of the whole catalog, which may be
    /// spread over several messages; `items` are this message's.
    CatalogResponse {
        sn: u32,
        device_id: String,
        sum: u32,
        items: Vec<CatalogItem>,
    },
    /// `<Query>` `DeviceInfo`.
    DeviceInfoQuery { sn: u32, device_id: String },
    /// `<Response>` `DeviceInfo`; `channels` is `<Channel>`.
    DeviceInfoResponse {
        sn: u32,
        device_id: String,
        manufacturer: String,
        model: String,
        firmware: String,
        channels: u32,
    },
    /// Any other root / `CmdType` (alarm, media status, device control responses, ...).
    Other {
        root: String,
        cmd_type: String,
        sn: u32,
        device_id: String,
    },
}

/// One `<Item>` of a catalog response (the fields we use).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogItem {
    pub device_id: String,
    /// Lossy text: GB2312 names become mostly U+FFFD characters (see the module
    /// documentation); for display only, never a key.
    pub name: String,
    pub manufacturer: String,
    /// `ON` / `OFF` as the spec says; some devices send `OK`, `ONLINE`, `OFFLINE`. Verbatim.
    pub status: String,
    /// 1: the item has children.
    pub parental: u8,
    pub parent_id: String,
}

/// Parses one MANSCDP body; see the module documentation for what is tolerated.
pub fn parse(body: &[u8]) -> Result<Message, XmlError> {
    if body.len() > MAX_BODY_LEN {
        return Err(XmlError::TooLarge { len: body.len() });
    }
    let mut fields = Fields::default();
    let mut stack: Vec<&[u8]> = Vec::with_capacity(MAX_DEPTH);
    // The element whose text is being captured: (depth, field), the buffer is `capture`.
    let mut capturing: Option<(usize, Field)> = None;
    let mut capture: Vec<u8> = Vec::new();
    let mut elements = 0;
    let mut root: Option<&[u8]> = None;
    let mut tokens = Tokenizer::new(body);
    loop {
        let at = tokens.pos;
        let Some(token) = tokens.next()? else { break };
        match token {
            Token::Start { name, empty } => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements { offset: at });
                }
                if stack.len() == MAX_DEPTH {
                    return Err(XmlError::TooDeep { offset: at });
                }
                if root.is_none() {
                    root = Some(name);
                }
                stack.push(name);
                let field = fields.open(&stack, at)?;
                if let Some(field) = field {
                    if capturing.is_none() {
                        capturing = Some((stack.len(), field));
                        capture.clear();
                    }
                }
                if empty {
                    close(&mut stack, &mut capturing, &capture, &mut fields);
                    if stack.is_empty() {
                        break;
                    }
                }
            }
            Token::End { name } => {
                match stack.last() {
                    Some(open) if open.eq_ignore_ascii_case(name) => {}
                    _ => return Err(XmlError::Malformed { offset: at }),
                }
                close(&mut stack, &mut capturing, &capture, &mut fields);
                if stack.is_empty() {
                    break;
                }
            }
            Token::Text(text) => {
                if let Some((depth, _)) = capturing {
                    if depth == stack.len() {
                        decode_entities(text, &mut capture);
                    }
                }
            }
            Token::CData(text) => {
                if let Some((depth, _)) = capturing {
                    if depth == stack.len() {
                        capture.extend_from_slice(text);
                    }
                }
            }
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Truncated { offset: body.len() });
    }
    let root = root.ok_or(XmlError::NoRoot)?;
    fields.into_message(root)
}

/// Closes the innermost element, finishing a capture that belongs to it.
fn close(
    stack: &mut Vec<&[u8]>,
    capturing: &mut Option<(usize, Field)>,
    capture: &[u8],
    fields: &mut Fields,
) {
    if let Some((depth, field)) = *capturing {
        if depth == stack.len() {
            fields.set(field, text_of(capture));
            *capturing = None;
        }
    }
    stack.pop();
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// The fields [`parse`] keeps, by where they sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    CmdType,
    Sn,
    DeviceId,
    Status,
    SumNum,
    Manufacturer,
    Model,
    Firmware,
    Channel,
    ItemDeviceId,
    ItemName,
    ItemManufacturer,
    ItemStatus,
    ItemParental,
    ItemParentId,
}

/// Children of the root we keep, by name.
const TOP_FIELDS: [(&str, Field); 9] = [
    ("CmdType", Field::CmdType),
    ("SN", Field::Sn),
    ("DeviceID", Field::DeviceId),
    ("Status", Field::Status),
    ("SumNum", Field::SumNum),
    ("Manufacturer", Field::Manufacturer),
    ("Model", Field::Model),
    ("Firmware", Field::Firmware),
    ("Channel", Field::Channel),
];

/// Children of `<DeviceList><Item>` we keep, by name.
const ITEM_FIELDS: [(&str, Field); 6] = [
    ("DeviceID", Field::ItemDeviceId),
    ("Name", Field::ItemName),
    ("Manufacturer", Field::ItemManufacturer),
    ("Status", Field::ItemStatus),
    ("Parental", Field::ItemParental),
    ("ParentID", Field::ItemParentId),
];

fn lookup(table: &[(&str, Field)], name: &[u8]) -> Option<Field> {
    table
        .iter()
        .find(|(key, _)| key.as_bytes().eq_ignore_ascii_case(name))
        .map(|&(_, field)| field)
}

/// Field values as found; `None` = not seen (first occurrence wins).
#[derive(Default)]
struct Fields {
    cmd_type: Option<String>,
    sn: Option<String>,
    device_id: Option<String>,
    status: Option<String>,
    sum_num: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    channel: Option<String>,
    items: Vec<CatalogItem>,
    /// Which fields the last item has been given (indexed like [`ITEM_FIELDS`]).
    item_seen: [bool; ITEM_FIELDS.len()],
}

impl Fields {
    /// A start tag was pushed on `stack`: starts an item, or names the field to capture.
    fn open(&mut self, stack: &[&[u8]], offset: usize) -> Result<Option<Field>, XmlError> {
        let name = stack[stack.len() - 1];
        match stack.len() {
            2 => Ok(lookup(&TOP_FIELDS, name)),
            3 if stack[1].eq_ignore_ascii_case(b"DeviceList")
                && name.eq_ignore_ascii_case(b"Item") =>
            {
                if self.items.len() == MAX_CATALOG_ITEMS {
                    return Err(XmlError::TooManyItems { offset });
                }
                self.items.push(CatalogItem {
                    device_id: String::new(),
                    name: String::new(),
                    manufacturer: String::new(),
                    status: String::new(),
                    parental: 0,
                    parent_id: String::new(),
                });
                self.item_seen = [false; ITEM_FIELDS.len()];
                Ok(None)
            }
            4 if stack[1].eq_ignore_ascii_case(b"DeviceList")
                && stack[2].eq_ignore_ascii_case(b"Item") =>
            {
                Ok(lookup(&ITEM_FIELDS, name))
            }
            _ => Ok(None),
        }
    }

    fn set(&mut self, field: Field, value: String) {
        let top = match field {
            Field::CmdType => &mut self.cmd_type,
            Field::Sn => &mut self.sn,
            Field::DeviceId => &mut self.device_id,
            Field::Status => &mut self.status,
            Field::SumNum => &mut self.sum_num,
            Field::Manufacturer => &mut self.manufacturer,
            Field::Model => &mut self.model,
            Field::Firmware => &mut self.firmware,
            Field::Channel => &mut self.channel,
            item_field => {
                self.set_item(item_field, value);
                return;
            }
        };
        if top.is_none() {
            *top = Some(value);
        }
    }

    fn set_item(&mut self, field: Field, value: String) {
        let Some(index) = ITEM_FIELDS.iter().position(|&(_, f)| f == field) else {
            return;
        };
        let Some(item) = self.items.last_mut() else {
            return;
        };
        if std::mem::replace(&mut self.item_seen[index], true) {
            return;
        }
        match field {
            Field::ItemDeviceId => item.device_id = value,
            Field::ItemName => item.name = value,
            Field::ItemManufacturer => item.manufacturer = value,
            Field::ItemStatus => item.status = value,
            Field::ItemParental => item.parental = value.parse().unwrap_or(0),
            Field::ItemParentId => item.parent_id = value,
            _ => {}
        }
    }

    fn into_message(self, root: &[u8]) -> Result<Message, XmlError> {
        let root = String::from_utf8_lossy(root).into_owned();
        let cmd_type = self
            .cmd_type
            .ok_or(XmlError::MissingField { field: "CmdType" })?;
        let sn = self.sn.ok_or(XmlError::MissingField { field: "SN" })?;
        let sn = sn
            .parse()
            .map_err(|_| XmlError::BadNumber { field: "SN" })?;
        let device_id = self
            .device_id
            .ok_or(XmlError::MissingField { field: "DeviceID" })?;
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        Ok(match (root.as_str(), cmd_type.as_str()) {
            (r, c) if is(r, "Notify") && is(c, "Keepalive") => Message::Keepalive {
                sn,
                device_id,
                status: self.status.unwrap_or_default(),
            },
            (r, c) if is(r, "Query") && is(c, "Catalog") => Message::CatalogQuery { sn, device_id },
            (r, c) if is(r, "Response") && is(c, "Catalog") => {
                let sum = match self.sum_num {
                    Some(sum) => sum
                        .parse()
                        .map_err(|_| XmlError::BadNumber { field: "SumNum" })?,
                    // At most MAX_CATALOG_ITEMS.
                    None => self.items.len() as u32,
                };
                Message::CatalogResponse {
                    sn,
                    device_id,
                    sum,
                    items: self.items,
                }
            }
            (r, c) if is(r, "Query") && is(c, "DeviceInfo") => {
                Message::DeviceInfoQuery { sn, device_id }
            }
            (r, c) if is(r, "Response") && is(c, "DeviceInfo") => Message::DeviceInfoResponse {
                sn,
                device_id,
                manufacturer: self.manufacturer.unwrap_or_default(),
                model: self.model.unwrap_or_default(),
                firmware: self.firmware.unwrap_or_default(),
                channels: self.channel.and_then(|c| c.parse().ok()).unwrap_or(0),
            },
            _ => Message::Other {
                root,
                cmd_type,
                sn,
                device_id,
            },
        })
    }
}

/// The `encoding` of the XML declaration (`GB2312`, `GBK`, `UTF-8`, ...), if the body starts
/// with one.
pub fn declared_encoding(body: &[u8]) -> Option<String> {
    let body = &body[..body.len().min(MAX_BODY_LEN)];
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = body[start..].strip_prefix(b"<?xml")?;
    let end = find(rest, b"?>")?;
    let decl = &rest[..end];
    let at = find(decl, b"encoding")? + b"encoding".len();
    let after = trim_start(&decl[at..]).strip_prefix(b"=")?;
    let after = trim_start(after);
    let quote = *after.first().filter(|&&q| q == b'"' || q == b'\'')?;
    let value = &after[1..];
    let close = value.iter().position(|&b| b == quote)?;
    Some(String::from_utf8_lossy(&value[..close]).into_owned())
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One piece of markup. Names and texts borrow from the body.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    /// `<name ...>`, or `<name .../>` with `empty`.
    Start { name: &'a [u8], empty: bool },
    /// `</name>`.
    End { name: &'a [u8] },
    /// Character data, entities not yet decoded.
    Text(&'a [u8]),
    /// The inside of `<![CDATA[...]]>`, verbatim.
    CData(&'a [u8]),
}

/// Splits a body into [`Token`]s; comments, processing instructions (the XML declaration
/// included) and `<!DOCTYPE>` are skipped.
struct Tokenizer<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Tokenizer<'a> {
    fn new(buf: &'a [u8]) -> Self {
        let pos = if buf.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        Tokenizer { buf, pos }
    }

    fn next(&mut self) -> Result<Option<Token<'a>>, XmlError> {
        loop {
            let start = self.pos;
            let rest = &self.buf[start..];
            if rest.is_empty() {
                return Ok(None);
            }
            if rest[0] != b'<' {
                let len = rest.iter().position(|&b| b == b'<').unwrap_or(rest.len());
                self.pos += len;
                return Ok(Some(Token::Text(&rest[..len])));
            }
            if rest.starts_with(b"<!--") {
                self.skip_past(4, b"-->")?;
            } else if rest.starts_with(b"<![CDATA[") {
                let inner_at = start + 9;
                self.skip_past(9, b"]]>")?;
                return Ok(Some(Token::CData(&self.buf[inner_at..self.pos - 3])));
            } else if rest.starts_with(b"<?") {
                self.skip_past(2, b"?>")?;
            } else if rest.starts_with(b"<!") {
                self.skip_declaration()?;
            } else if rest.starts_with(b"</") {
                let end = self.tag_end(2)?;
                let name = trim_start_end(&self.buf[start + 2..end]);
                if name.is_empty() {
                    return Err(XmlError::Malformed { offset: start });
                }
                self.pos = end + 1;
                return Ok(Some(Token::End { name }));
            } else {
                let end = self.tag_end(1)?;
                let inner = &self.buf[start + 1..end];
                let empty = inner.last() == Some(&b'/');
                let name_len = inner
                    .iter()
                    .position(|&b| b.is_ascii_whitespace() || b == b'/')
                    .unwrap_or(inner.len());
                if name_len == 0 {
                    return Err(XmlError::Malformed { offset: start });
                }
                self.pos = end + 1;
                return Ok(Some(Token::Start {
                    name: &inner[..name_len],
                    empty,
                }));
            }
        }
    }

    /// Moves past the first `terminator` found `skip` bytes into the construct at `pos`.
    fn skip_past(&mut self, skip: usize, terminator: &[u8]) -> Result<(), XmlError> {
        let from = self.pos + skip;
        let at =
            find(&self.buf[from..], terminator).ok_or(XmlError::Truncated { offset: self.pos })?;
        self.pos = from + at + terminator.len();
        Ok(())
    }

    /// Index of the `>` closing the tag at `pos`, scanning from `pos + skip`, outside quotes.
    fn tag_end(&self, skip: usize) -> Result<usize, XmlError> {
        let mut quote = None;
        for (i, &b) in self.buf.iter().enumerate().skip(self.pos + skip) {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'\'' => quote = Some(b),
                None if b == b'>' => return Ok(i),
                None if b == b'<' => return Err(XmlError::Malformed { offset: self.pos }),
                None => {}
            }
        }
        Err(XmlError::Truncated { offset: self.pos })
    }

    /// `<!DOCTYPE ...>` with an optional `[...]` internal subset (whose markup declarations
    /// are skipped, not interpreted).
    fn skip_declaration(&mut self) -> Result<(), XmlError> {
        let mut in_subset = false;
        let mut quote = None;
        for (i, &b) in self.buf.iter().enumerate().skip(self.pos + 2) {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'\'' => quote = Some(b),
                None if b == b'[' => in_subset = true,
                None if b == b']' => in_subset = false,
                None if b == b'>' && !in_subset => {
                    self.pos = i + 1;
                    return Ok(());
                }
                None => {}
            }
        }
        Err(XmlError::Truncated { offset: self.pos })
    }
}

fn trim_start_end(bytes: &[u8]) -> &[u8] {
    let bytes = trim_start(bytes);
    let keep = bytes.len()
        - bytes
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    &bytes[..keep]
}

/// Longest entity reference we decode, `&` and `;` included (`&#x10FFFF;` is 10 bytes).
const MAX_ENTITY_LEN: usize = 12;

/// Appends `text` to `out` with entity references decoded (XML 1.0 §4.1, §4.6); an `&` that
/// starts no valid reference is kept as is.
fn decode_entities(text: &[u8], out: &mut Vec<u8>) {
    let mut rest = text;
    while let Some(amp) = rest.iter().position(|&b| b == b'&') {
        out.extend_from_slice(&rest[..amp]);
        rest = &rest[amp..];
        let window = &rest[..rest.len().min(MAX_ENTITY_LEN)];
        let decoded = window
            .iter()
            .position(|&b| b == b';')
            .and_then(|semi| Some((entity(&window[1..semi])?, semi + 1)));
        match decoded {
            Some((c, used)) => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                rest = &rest[used..];
            }
            None => {
                out.push(b'&');
                rest = &rest[1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

/// The character an entity name (between `&` and `;`) stands for.
fn entity(name: &[u8]) -> Option<char> {
    Some(match name {
        b"lt" => '<',
        b"gt" => '>',
        b"amp" => '&',
        b"quot" => '"',
        b"apos" => '\'',
        _ => {
            let number = name.strip_prefix(b"#")?;
            let (digits, radix) = match number
                .strip_prefix(b"x")
                .or_else(|| number.strip_prefix(b"X"))
            {
                Some(hex) => (hex, 16),
                None => (number, 10),
            };
            let digits = std::str::from_utf8(digits).ok()?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let code = u32::from_str_radix(digits, radix).ok()?;
            match char::from_u32(code) {
                Some('\0') | None => char::REPLACEMENT_CHARACTER,
                Some(c) => c,
            }
        }
    })
}

/// Appends `text` with `&`, `<` and `>` escaped.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

fn query(cmd_type: &str, sn: u32, device_id: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>{cmd_type}</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>"
    );
    push_escaped(&mut out, device_id);
    out.push_str("</DeviceID>\r\n</Query>\r\n");
    out
}

/// The catalog query we send after a device registers. Declares GB2312 like
/// devices expect; `device_id` (20 ASCII digits) is escaped but not transcoded.
pub fn catalog_query(sn: u32, device_id: &str) -> String {
    query("Catalog", sn, device_id)
}

/// The device information query; same format as [`catalog_query`].
pub fn device_info_query(sn: u32, device_id: &str) -> String {
    query("DeviceInfo", sn, device_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hikvision-style keepalive, GB2312 declared, CRLF.
    const KEEPALIVE: &[u8] = b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n\
        <Notify>\r\n\
        <CmdType>Keepalive</CmdType>\r\n\
        <SN>43</SN>\r\n\
        <DeviceID>34020000001320000001</DeviceID>\r\n\
        <Status>OK</Status>\r\n\
        <Info>\r\n</Info>\r\n\
        </Notify>\r\n";

    /// Catalog response with two items; the first item's name is "摄像头" in GB2312
    /// (C9 E3 CF F1 CD B7), the second's has an entity and a CDATA section.
    const CATALOG: &[u8] = b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n\
        <Response>\r\n\
        <CmdType>Catalog</CmdType>\r\n\
        <SN>17430</SN>\r\n\
        <DeviceID>34020000001110000001</DeviceID>\r\n\
        <SumNum>2</SumNum>\r\n\
        <DeviceList Num=\"2\">\r\n\
        <Item>\r\n\
        <DeviceID>34020000001320000001</DeviceID>\r\n\
        <Name>\xc9\xe3\xcf\xf1\xcd\xb7</Name>\r\n\
        <Manufacturer>Hikvision</Manufacturer>\r\n\
        <Model>IP Camera</Model>\r\n\
        <Owner>Owner</Owner>\r\n\
        <CivilCode>3402000000</CivilCode>\r\n\
        <Address>Address</Address>\r\n\
        <Parental>0</Parental>\r\n\
        <ParentID>34020000001110000001</ParentID>\r\n\
        <SafetyWay>0</SafetyWay>\r\n\
        <RegisterWay>1</RegisterWay>\r\n\
        <Secrecy>0</Secrecy>\r\n\
        <Status>ON</Status>\r\n\
        <Info><Name>not me</Name></Info>\r\n\
        </Item>\r\n\
        <Item>\r\n\
        <DeviceID>34020000001320000002</DeviceID>\r\n\
        <Name>Gate &amp; Yard &#x41;&#66; <![CDATA[<east>]]></Name>\r\n\
        <Manufacturer>Dahua</Manufacturer>\r\n\
        <Parental>1</Parental>\r\n\
        <ParentID>34020000001110000001</ParentID>\r\n\
        <Status>OFF</Status>\r\n\
        </Item>\r\n\
        </DeviceList>\r\n\
        </Response>\r\n";

    /// Dahua-style device info response, UTF-8 declared, LF only.
    const DEVICE_INFO: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <Response>\n\
        <CmdType>DeviceInfo</CmdType>\n\
        <SN>7</SN>\n\
        <DeviceID>34020000001180000001</DeviceID>\n\
        <Result>OK</Result>\n\
        <DeviceName>NVR</DeviceName>\n\
        <Manufacturer>Dahua</Manufacturer>\n\
        <Model>DH-NVR4104</Model>\n\
        <Firmware>V4.001.0000000.1</Firmware>\n\
        <Channel>4</Channel>\n\
        </Response>\n";

    #[test]
    fn keepalive() {
        assert_eq!(
            parse(KEEPALIVE).unwrap(),
            Message::Keepalive {
                sn: 43,
                device_id: "34020000001320000001".into(),
                status: "OK".into()
            }
        );
        assert_eq!(declared_encoding(KEEPALIVE).as_deref(), Some("GB2312"));
    }

    #[test]
    fn catalog_with_gb2312_name() {
        let Message::CatalogResponse {
            sn,
            device_id,
            sum,
            items,
        } = parse(CATALOG).unwrap()
        else {
            panic!("not a catalog response");
        };
        assert_eq!(
            (sn, device_id.as_str(), sum),
            (17430, "34020000001110000001", 2)
        );
        assert_eq!(items.len(), 2);
        let camera = &items[0];
        assert_eq!(camera.device_id, "34020000001320000001");
        assert_eq!(
            camera.name,
            String::from_utf8_lossy(b"\xc9\xe3\xcf\xf1\xcd\xb7")
        );
        // C9, E3, CF, F1 are bad UTF-8; CD B7 happens to be valid UTF-8 (U+0377).
        assert_eq!(camera.name, "\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{377}");
        assert_eq!(camera.manufacturer, "Hikvision");
        assert_eq!(camera.status, "ON");
        assert_eq!(camera.parental, 0);
        assert_eq!(camera.parent_id, "34020000001110000001");
        assert_eq!(
            items[1],
            CatalogItem {
                device_id: "34020000001320000002".into(),
                name: "Gate & Yard AB <east>".into(),
                manufacturer: "Dahua".into(),
                status: "OFF".into(),
                parental: 1,
                parent_id: "34020000001110000001".into(),
            }
        );
    }

    #[test]
    fn device_info_and_queries() {
        assert_eq!(
            parse(DEVICE_INFO).unwrap(),
            Message::DeviceInfoResponse {
                sn: 7,
                device_id: "34020000001180000001".into(),
                manufacturer: "Dahua".into(),
                model: "DH-NVR4104".into(),
                firmware: "V4.001.0000000.1".into(),
                channels: 4,
            }
        );
        let query = catalog_query(17430, "34020000001320000001");
        assert_eq!(
            query,
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n\
             <SN>17430</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n</Query>\r\n"
        );
        assert_eq!(
            parse(query.as_bytes()).unwrap(),
            Message::CatalogQuery {
                sn: 17430,
                device_id: "34020000001320000001".into()
            }
        );
        assert_eq!(
            parse(device_info_query(1, "a<&>b").as_bytes()).unwrap(),
            Message::DeviceInfoQuery {
                sn: 1,
                device_id: "a<&>b".into()
            }
        );
    }

    #[test]
    fn other_and_leniency() {
        // Lower-case names, attributes with '>' in quotes, comment, DOCTYPE with a subset,
        // self-closing field, trailing NULs, no declaration, BOM.
        let body = b"\xef\xbb\xbf<!DOCTYPE x [ <!ENTITY a \"b\"> ]><!-- hi -->\
            <Notify kind=\"a>b\"><cmdtype>Alarm</cmdtype><sn> 5 </sn>\
            <DeviceId>3402</DeviceId><Extra/></Notify>\0\0\0";
        assert_eq!(
            parse(body).unwrap(),
            Message::Other {
                root: "Notify".into(),
                cmd_type: "Alarm".into(),
                sn: 5,
                device_id: "3402".into()
            }
        );
        assert_eq!(declared_encoding(body), None);
        // Unknown or broken entities stay as text; bad code points become U+FFFD.
        let body = b"<Query><CmdType>Catalog</CmdType><SN>1</SN>\
            <DeviceID>a&b &bogus; &#0; &#xD800; &#; &lt;&gt;&quot;&apos;</DeviceID></Query>";
        assert_eq!(
            parse(body).unwrap(),
            Message::CatalogQuery {
                sn: 1,
                device_id: "a&b &bogus; \u{fffd} \u{fffd} &#; <>\"'".into()
            }
        );
        // Missing SumNum: the item count. Missing Status: empty.
        let body = b"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>x</DeviceID>\
            <DeviceList><Item/><Item><Parental>z</Parental></Item></DeviceList></Response>";
        let Message::CatalogResponse { sum, items, .. } = parse(body).unwrap() else {
            panic!()
        };
        assert_eq!((sum, items.len(), items[1].parental), (2, 2, 0));
    }

    #[test]
    fn errors() {
        let cases: &[(&[u8], XmlError)] = &[
            (b"", XmlError::NoRoot),
            (b"  just text ", XmlError::NoRoot),
            (b"<Notify><CmdType>Keepalive</CmdType>", XmlError::Truncated { offset: 36 }),
            (b"<Notify><CmdType>Keepalive</CmdType", XmlError::Truncated { offset: 26 }),
            (b"<Notify><!-- x", XmlError::Truncated { offset: 8 }),
            (b"<Notify><![CDATA[x", XmlError::Truncated { offset: 8 }),
            (b"<Notify></Query>", XmlError::Malformed { offset: 8 }),
            (b"</Notify>", XmlError::Malformed { offset: 0 }),
            (b"<Notify><>", XmlError::Malformed { offset: 8 }),
            (b"<Notify><a <b>", XmlError::Malformed { offset: 8 }),
            (b"<Notify><SN>1</SN><DeviceID>x</DeviceID></Notify>", XmlError::MissingField { field: "CmdType" }),
            (b"<Notify><CmdType>K</CmdType><DeviceID>x</DeviceID></Notify>", XmlError::MissingField { field: "SN" }),
            (b"<Notify><CmdType>K</CmdType><SN>1</SN></Notify>", XmlError::MissingField { field: "DeviceID" }),
            (b"<Notify><CmdType>K</CmdType><SN>-1</SN><DeviceID>x</DeviceID></Notify>", XmlError::BadNumber { field: "SN" }),
            (
                b"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>x</DeviceID><SumNum>n</SumNum></Response>",
                XmlError::BadNumber { field: "SumNum" },
            ),
        ];
        for (body, err) in cases {
            assert_eq!(
                parse(body).as_ref(),
                Err(err),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn limits() {
        let bomb = b"<a>".repeat(20_000);
        assert_eq!(
            parse(&bomb),
            Err(XmlError::TooDeep {
                offset: 3 * MAX_DEPTH
            })
        );

        let mut big =
            b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>x</DeviceID><Info>".to_vec();
        big.resize(70 * 1024, b'x');
        big.extend_from_slice(b"</Info></Notify>");
        assert_eq!(parse(&big), Err(XmlError::TooLarge { len: big.len() }));

        let mut many = b"<Notify>".to_vec();
        for _ in 0..MAX_ELEMENTS {
            many.extend_from_slice(b"<b/>");
        }
        many.extend_from_slice(b"</Notify>");
        assert_eq!(
            parse(&many),
            Err(XmlError::TooManyElements {
                offset: 8 + 4 * (MAX_ELEMENTS - 1)
            })
        );

        let mut items = b"<Response><DeviceList>".to_vec();
        for _ in 0..=MAX_CATALOG_ITEMS {
            items.extend_from_slice(b"<Item/>");
        }
        items.extend_from_slice(b"</DeviceList></Response>");
        assert_eq!(
            parse(&items),
            Err(XmlError::TooManyItems {
                offset: 22 + 7 * MAX_CATALOG_ITEMS
            })
        );
    }

    use crate::testutil::XorShift as Rng;

    const ALPHABET: &[u8] = b"<>/!?[]-&;#x\"'= \r\nItemSNCmdDATA0123\xc9\xe3";

    #[test]
    fn fuzz_no_panic() {
        let seeds = [KEEPALIVE, CATALOG, DEVICE_INFO];
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        let mut parsed = 0;
        for round in 0..20_000 {
            let mut input = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(input.len());
                match rng.below(3) {
                    0 => input[at] = ALPHABET[rng.below(ALPHABET.len())],
                    1 => {
                        input.remove(at);
                    }
                    _ => input.insert(at, rng.next() as u8),
                }
            }
            if round % 3 == 0 {
                input.truncate(rng.below(input.len() + 1));
            }
            if parse(&input).is_ok() {
                parsed += 1;
            }
            let _ = declared_encoding(&input);
        }
        assert!(parsed > 2_000, "{parsed}");
    }
}
