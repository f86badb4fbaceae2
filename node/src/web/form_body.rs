//! The initiative form's body: `multipart/form-data` (RFC 7578, text fields and files), read
//! as a stream by the `multer` crate, or urlencoded. The bounds are checked as the bytes
//! arrive, before they are kept: the declared length and the whole body
//! ([`MAX_WEB_UPLOAD_BYTES`], which also bounds what the parser buffers), the number of parts
//! ([`MAX_WEB_FORM_PARTS_COUNT`]), the text fields together ([`MAX_WEB_FORM_BYTES`]) and each
//! file ([`MAX_ATTACHMENT_BYTES`]: past it the file's bytes are dropped and only its size is
//! counted, so that the form comes back with the file named and nothing stored). A part's
//! header block ([`MAX_WEB_PART_HEADER_BYTES`]) is measured on the headers the parser read. A
//! body that is not a form this interface reads is refused whole, with the page of
//! [`FormBodyError`], before anything is stored.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use sync_protocol::limits::{
    MAX_ATTACHMENT_BYTES, MAX_WEB_FORM_BYTES, MAX_WEB_FORM_PARTS_COUNT, MAX_WEB_PART_HEADER_BYTES,
    MAX_WEB_UPLOAD_BYTES,
};

use super::{pages::form, Form, WebError};

/// A file sent with the form.
pub(super) struct Upload {
    /// The file name the browser sent, without any directory.
    pub name: String,
    /// Its size in bytes, counted to its end even past [`MAX_ATTACHMENT_BYTES`].
    pub size_bytes: u64,
    /// Its bytes; empty when `size_bytes` is over [`MAX_ATTACHMENT_BYTES`] (never kept then).
    pub bytes: Bytes,
}

/// Why a form's body was refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum FormBodyError {
    /// The body does not follow its declared format (or is not UTF-8 where text is).
    #[error("malformed form body")]
    Malformed,
    /// More parts than [`MAX_WEB_FORM_PARTS_COUNT`].
    #[error("more than {0} parts")]
    TooManyParts(usize),
    /// A part's header block is longer than [`MAX_WEB_PART_HEADER_BYTES`].
    #[error("a part's header block over {0} bytes")]
    PartHeaderTooLong(usize),
    /// The body (declared or sent) is longer than [`MAX_WEB_UPLOAD_BYTES`], or its text fields
    /// together longer than [`MAX_WEB_FORM_BYTES`].
    #[error("the body or its text over {0} bytes")]
    TooLarge(usize),
}

impl From<FormBodyError> for WebError {
    fn from(e: FormBodyError) -> Self {
        match e {
            FormBodyError::TooLarge(_) => too_large(),
            FormBodyError::Malformed
            | FormBodyError::TooManyParts(_)
            | FormBodyError::PartHeaderTooLong(_) => unreadable(),
        }
    }
}

/// A body that is not a form this interface reads (malformed, or text that is not UTF-8).
fn unreadable() -> WebError {
    WebError::new(
        StatusCode::BAD_REQUEST,
        "Nút không đọc được biểu mẫu gửi lên (sai định dạng). Không có gì được lưu; mở lại trang rồi gửi lại.",
        "The node could not read the form sent (it is malformed). Nothing was stored; open the page again and resend.",
    )
}

fn too_large() -> WebError {
    let mib = MAX_WEB_UPLOAD_BYTES / (1024 * 1024);
    let file_mib = MAX_ATTACHMENT_BYTES / (1024 * 1024);
    WebError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Biểu mẫu gửi lên quá lớn: tối đa {mib} MiB cho cả biểu mẫu và tệp đính kèm, mỗi tệp tối đa {file_mib} MiB. Không có gì được lưu; nén hoặc chia nhỏ tệp rồi gửi lại."),
        format!("The form sent is too large: at most {mib} MiB for the form and its attachments together, {file_mib} MiB per file. Nothing was stored; compress or split the files and send again."),
    )
}

/// Reads the form's body: `multipart/form-data` (with files) or urlencoded. The declared
/// length is checked against [`MAX_WEB_UPLOAD_BYTES`] before a byte is read, and the reading
/// stops there too.
pub(super) async fn read_form(
    headers: &HeaderMap,
    body: Body,
) -> Result<(Form, Vec<Upload>), FormBodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_WEB_UPLOAD_BYTES as u64) {
        return Err(FormBodyError::TooLarge(MAX_WEB_UPLOAD_BYTES));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_multipart = content_type
        .split(';')
        .next()
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_multipart {
        let bytes = axum::body::to_bytes(body, MAX_WEB_FORM_BYTES)
            .await
            .map_err(|_| FormBodyError::TooLarge(MAX_WEB_FORM_BYTES))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| FormBodyError::Malformed)?;
        return Ok((form(text), Vec::new()));
    }
    let boundary = multer::parse_boundary(content_type).map_err(|_| FormBodyError::Malformed)?;
    let limits = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MAX_WEB_UPLOAD_BYTES as u64));
    let mut parts = multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
    let mut fields = Vec::new();
    let mut uploads = Vec::new();
    let mut count = 0usize;
    let mut text_bytes = 0usize;
    while let Some(mut part) = parts.next_field().await.map_err(refusal)? {
        count += 1;
        if count > MAX_WEB_FORM_PARTS_COUNT {
            return Err(FormBodyError::TooManyParts(MAX_WEB_FORM_PARTS_COUNT));
        }
        // The block as sent: each line is "name: value" and CRLF.
        let header_bytes: usize = part
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > MAX_WEB_PART_HEADER_BYTES {
            return Err(FormBodyError::PartHeaderTooLong(MAX_WEB_PART_HEADER_BYTES));
        }
        let name = part.name().ok_or(FormBodyError::Malformed)?.to_owned();
        match part.file_name().map(base_name) {
            Some(file) => {
                let mut kept = Vec::new();
                let mut size_bytes = 0u64;
                while let Some(chunk) = part.chunk().await.map_err(refusal)? {
                    size_bytes += chunk.len() as u64;
                    if size_bytes <= MAX_ATTACHMENT_BYTES {
                        kept.extend_from_slice(&chunk);
                    } else if !kept.is_empty() {
                        kept = Vec::new();
                    }
                }
                // A file input left empty sends a part with no file name and no bytes.
                if !(file.is_empty() && size_bytes == 0) {
                    uploads.push(Upload {
                        name: file,
                        size_bytes,
                        bytes: Bytes::from(kept),
                    });
                }
            }
            None => {
                let mut value = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(refusal)? {
                    text_bytes += chunk.len();
                    if text_bytes > MAX_WEB_FORM_BYTES {
                        return Err(FormBodyError::TooLarge(MAX_WEB_FORM_BYTES));
                    }
                    value.extend_from_slice(&chunk);
                }
                let value = String::from_utf8(value).map_err(|_| FormBodyError::Malformed)?;
                fields.push((name, value));
            }
        }
    }
    Ok((Form(fields), uploads))
}

/// What the parser's error means for the person: too large, or not a form.
fn refusal(e: multer::Error) -> FormBodyError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            FormBodyError::TooLarge(MAX_WEB_UPLOAD_BYTES)
        }
        _ => FormBodyError::Malformed,
    }
}

/// The file name without a directory (browsers send a bare name; some old ones a whole path).
fn base_name(sent: &str) -> String {
    sent.rsplit(['/', '\\']).next().unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const BOUNDARY: &str = "XyZ";

    fn read(content_type: &str, body: Vec<u8>) -> Result<(Form, Vec<Upload>), FormBodyError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).expect("a header value"),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        rt.block_on(read_form(&headers, Body::from(body)))
    }

    fn multipart(body: impl Into<Vec<u8>>) -> Result<(Form, Vec<Upload>), FormBodyError> {
        read(
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            body.into(),
        )
    }

    fn field(name: &str, value: &str) -> String {
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    }

    fn file_part(name: &str, bytes: &[u8]) -> Vec<u8> {
        let mut p = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
        p.extend_from_slice(bytes);
        p.extend_from_slice(b"\r\n");
        p
    }

    fn end() -> String {
        format!("--{BOUNDARY}--\r\n")
    }

    #[test]
    fn fields_and_files() {
        let mut body = field("title", "Máy cấp đá").into_bytes();
        body.extend(file_part("C:\\docs\\mau4.txt", b"a\r\n--b"));
        // An empty file input.
        body.extend(file_part("", b""));
        body.extend(end().into_bytes());
        let (form, uploads) = multipart(body).expect("read");
        assert_eq!(form.0, vec![("title".to_owned(), "Máy cấp đá".to_owned())]);
        let files: Vec<(&str, u64, &[u8])> = uploads
            .iter()
            .map(|u| (u.name.as_str(), u.size_bytes, &u.bytes[..]))
            .collect();
        assert_eq!(files, vec![("mau4.txt", 6, &b"a\r\n--b"[..])]);
        let (form, uploads) = multipart(end()).expect("an empty form");
        assert!(form.0.is_empty() && uploads.is_empty());
        // Urlencoded, as before.
        let (form, uploads) = read(
            "application/x-www-form-urlencoded",
            b"title=M%C3%A1y+c%E1%BA%A5p&x=1".to_vec(),
        )
        .expect("urlencoded");
        assert_eq!((form.str("title"), form.str("x")), ("Máy cấp", "1"));
        assert!(uploads.is_empty());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for bad in [
            String::new(),
            "--not-the-boundary\r\n".to_owned(),
            field("a", "no end").trim_end_matches("\r\n").to_owned(),
            format!("--{BOUNDARY}\r\nno-disposition: x\r\n\r\nv\r\n--{BOUNDARY}--"),
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nno end of headers"
            ),
        ] {
            assert_eq!(
                multipart(bad.clone()).err(),
                Some(FormBodyError::Malformed),
                "{bad:?}"
            );
        }
        // Text that is not UTF-8.
        let mut body =
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n")
                .into_bytes();
        body.extend_from_slice(&[0xff, 0xfe, b'\r', b'\n']);
        body.extend(end().into_bytes());
        assert_eq!(multipart(body).err(), Some(FormBodyError::Malformed));
        // A multipart type without its boundary.
        assert_eq!(
            read("multipart/form-data", end().into_bytes()).err(),
            Some(FormBodyError::Malformed)
        );
        assert_eq!(
            read("application/x-www-form-urlencoded", vec![0xff]).err(),
            Some(FormBodyError::Malformed)
        );
    }

    #[test]
    fn parts_are_counted_at_the_limit() {
        let form = |n: usize| {
            (0..n)
                .map(|i| field(&format!("f{i}"), "v"))
                .collect::<String>()
                + &end()
        };
        assert_eq!(
            multipart(form(MAX_WEB_FORM_PARTS_COUNT)).map(|(f, _)| f.0.len()),
            Ok(MAX_WEB_FORM_PARTS_COUNT)
        );
        assert_eq!(
            multipart(form(MAX_WEB_FORM_PARTS_COUNT + 1)).err(),
            Some(FormBodyError::TooManyParts(MAX_WEB_FORM_PARTS_COUNT))
        );
    }

    #[test]
    fn a_part_header_block_is_bounded() {
        // "content-disposition" (19) + ": " and CRLF (4) + the value.
        let value_len = MAX_WEB_PART_HEADER_BYTES - 19 - 4;
        let prefix = "form-data; name=\"";
        let part = |extra: usize| {
            let name = "n".repeat(value_len - prefix.len() - 1 + extra);
            field(&name, "v") + &end()
        };
        assert!(multipart(part(0)).is_ok());
        assert_eq!(
            multipart(part(1)).err(),
            Some(FormBodyError::PartHeaderTooLong(MAX_WEB_PART_HEADER_BYTES))
        );
    }

    #[test]
    fn text_fields_are_bounded_together() {
        let half = "a".repeat(MAX_WEB_FORM_BYTES / 2);
        let at =
            field("a", &half) + &field("b", &"b".repeat(MAX_WEB_FORM_BYTES - half.len())) + &end();
        assert!(multipart(at).is_ok());
        let over = field("a", &half)
            + &field("b", &"b".repeat(MAX_WEB_FORM_BYTES - half.len() + 1))
            + &end();
        assert_eq!(
            multipart(over).err(),
            Some(FormBodyError::TooLarge(MAX_WEB_FORM_BYTES))
        );
        let long = vec![b'a'; MAX_WEB_FORM_BYTES + 1];
        assert_eq!(
            read("application/x-www-form-urlencoded", long).err(),
            Some(FormBodyError::TooLarge(MAX_WEB_FORM_BYTES))
        );
    }

    #[test]
    fn a_file_over_its_limit_is_counted_not_kept() {
        let limit = MAX_ATTACHMENT_BYTES as usize;
        let mut body = file_part("at.bin", &vec![1u8; limit]);
        body.extend(file_part("over.bin", &vec![2u8; limit + 1]));
        body.extend(end().into_bytes());
        assert!(body.len() > MAX_WEB_UPLOAD_BYTES);
        // Two such files are over the body's bound: sent one at a time.
        let one = |name: &str, n: usize| {
            let mut b = file_part(name, &vec![3u8; n]);
            b.extend(end().into_bytes());
            multipart(b).expect("read").1.remove(0)
        };
        let at = one("at.bin", limit);
        assert_eq!((at.size_bytes, at.bytes.len()), (limit as u64, limit));
        let over = one("over.bin", limit + 1);
        assert_eq!((over.size_bytes, over.bytes.len()), (limit as u64 + 1, 0));
        // The whole body over its bound: refused as too large while it streams.
        assert_eq!(
            multipart(body).err(),
            Some(FormBodyError::TooLarge(MAX_WEB_UPLOAD_BYTES))
        );
    }
}
