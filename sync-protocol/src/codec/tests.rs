use super::*;

#[test]
fn length_over_limit_is_refused_before_reading() {
    let mut w = Writer::new();
    w.u32(1_000_000);
    let bytes = w.into_bytes();
    let mut r = Reader::new(&bytes);
    assert_eq!(
        r.bytes("title", 10),
        Err(DecodeError::TooLong {
            field: "title",
            limit: 10,
            actual: 1_000_000
        })
    );
}

#[test]
fn length_at_limit_is_read() {
    let mut w = Writer::new();
    w.bytes(&[7; 10]);
    let bytes = w.into_bytes();
    let mut r = Reader::new(&bytes);
    assert_eq!(r.bytes("x", 10).unwrap(), &[7; 10]);
    r.finish().unwrap();
}

#[test]
fn text_must_be_utf8_and_nfc() {
    let mut w = Writer::new();
    w.bytes(&[0xff, 0xfe]);
    let b = w.into_bytes();
    assert_eq!(
        Reader::new(&b).text("t", 10),
        Err(DecodeError::NotUtf8 { field: "t" })
    );
    // "é" as e + combining acute: valid UTF-8, not NFC.
    let mut w = Writer::new();
    w.bytes("e\u{301}".as_bytes());
    let b = w.into_bytes();
    assert_eq!(
        Reader::new(&b).text("t", 10),
        Err(DecodeError::NotNfc { field: "t" })
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let r = Reader::new(&[1, 2]);
    assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(2)));
}
