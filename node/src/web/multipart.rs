//! A `multipart/form-data` body (RFC 7578) as the initiative form sends it: text fields and
//! files, read from a body whose length was bounded before it was read
//! ([`sync_protocol::limits::MAX_WEB_UPLOAD_BYTES`]). Written by hand: the forms are ours and
//! small, the body is already in memory, and this needs no streaming parser crate; parts are
//! counted ([`MAX_WEB_FORM_PARTS_COUNT`]) and their header blocks bounded
//! ([`MAX_WEB_PART_HEADER_BYTES`]). A file's bytes are a range of the body, never copied.

use std::ops::Range;

use sync_protocol::limits::{MAX_WEB_FORM_PARTS_COUNT, MAX_WEB_PART_HEADER_BYTES};

/// One part: a field's name, the file name when it is a file, and where its value lies in the
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The field's name.
    pub name: String,
    /// The file name the browser sent (a file input), without any directory.
    pub filename: Option<String>,
    /// The value's bytes in the body.
    pub range: Range<usize>,
}

/// Why a body is not a multipart form this interface reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The body does not follow the format.
    #[error("malformed multipart body")]
    Malformed,
    /// More parts than the limit.
    #[error("more than {0} parts")]
    TooManyParts(usize),
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut it = content_type.split(';');
    let kind = it.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    it.filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// Splits `body` into its parts.
pub fn parse(boundary: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let open = format!("--{boundary}");
    let delim = format!("\r\n--{boundary}");
    let mut at = if body.starts_with(open.as_bytes()) {
        open.len()
    } else {
        find(body, delim.as_bytes(), 0).ok_or(MultipartError::Malformed)? + delim.len()
    };
    let mut parts = Vec::new();
    loop {
        // After a delimiter: "--" ends the body, CRLF starts a part.
        let rest = body.get(at..).ok_or(MultipartError::Malformed)?;
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(MultipartError::Malformed);
        }
        at += 2;
        if parts.len() == MAX_WEB_FORM_PARTS_COUNT {
            return Err(MultipartError::TooManyParts(MAX_WEB_FORM_PARTS_COUNT));
        }
        let window = &body[at..body.len().min(at + MAX_WEB_PART_HEADER_BYTES)];
        let head_len = find(window, b"\r\n\r\n", 0).ok_or(MultipartError::Malformed)?;
        let head =
            std::str::from_utf8(&window[..head_len]).map_err(|_| MultipartError::Malformed)?;
        let (name, filename) = disposition(head).ok_or(MultipartError::Malformed)?;
        let start = at + head_len + 4;
        let end = find(body, delim.as_bytes(), start).ok_or(MultipartError::Malformed)?;
        parts.push(Part {
            name,
            filename,
            range: start..end,
        });
        at = end + delim.len();
    }
}

/// The `name` and `filename` of a part's Content-Disposition.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head.split("\r\n").find(|l| {
        l.split(':')
            .next()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    let value = line.split_once(':')?.1;
    let mut name = None;
    let mut filename = None;
    for p in value.split(';').skip(1) {
        let Some((k, v)) = p.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_owned();
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => {
                // Browsers send a bare name; some old ones a whole path.
                let base = v.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
                filename = Some(base)
            }
            _ => {}
        }
    }
    Some((name?, filename))
}

/// The first position of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let off = hay[i..hay.len() - needle.len() + 1]
            .iter()
            .position(|&b| b == first)?;
        i += off;
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: &[(&str, Option<&str>, &str)]) {
        let parts = parse("XyZ", body.as_bytes()).expect("parses");
        let got: Vec<(&str, Option<&str>, &str)> = parts
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.filename.as_deref(),
                    &body[p.range.clone()],
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn fields_and_files() {
        check(
            "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMáy cấp đá\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"C:\\\\docs\\\\mau4.txt\"\r\nContent-Type: text/plain\r\n\r\na\r\n--b\r\n--XyZ--\r\n",
            &[("title", None, "Máy cấp đá"), ("files", Some("mau4.txt"), "a\r\n--b")],
        );
        check("--XyZ--\r\n", &[]);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }

    #[test]
    fn bad_bodies_are_refused() {
        for bad in [
            "",
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            "--XyZ\r\nno-disposition: x\r\n\r\nv\r\n--XyZ--",
        ] {
            assert_eq!(
                parse("XyZ", bad.as_bytes()),
                Err(MultipartError::Malformed),
                "{bad:?}"
            );
        }
        let many: String = (0..=MAX_WEB_FORM_PARTS_COUNT)
            .map(|i| format!("--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n"))
            .collect::<String>()
            + "--XyZ--";
        assert_eq!(
            parse("XyZ", many.as_bytes()),
            Err(MultipartError::TooManyParts(MAX_WEB_FORM_PARTS_COUNT))
        );
        let at_limit: String = (0..MAX_WEB_FORM_PARTS_COUNT)
            .map(|i| format!("--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n"))
            .collect::<String>()
            + "--XyZ--";
        assert_eq!(
            parse("XyZ", at_limit.as_bytes()).map(|p| p.len()),
            Ok(MAX_WEB_FORM_PARTS_COUNT)
        );
    }
}
